// TLS contexts from OpenSSL through Boost.Asio, shared by the HTTPS listener and the Redis
// clients (read path and sync): TLS 1.2 and 1.3 only, no compression, no renegotiation, and
// errors that name the file and what is wrong with it, so a bad certificate stops the start with
// one clear line instead of failing every handshake later.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace fstore::server {

// The server context of --tls-cert/--tls-key. Throws std::runtime_error when a file is missing
// or unreadable, is not PEM, the key is encrypted, or the key does not belong to the certificate.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const std::string& cert_file,
                                                                   const std::string& key_file);

// A client context that verifies the server's certificate against `ca_file` (PEM bundle; empty:
// the system's trusted CAs), with a client certificate and key when given (mutual TLS). Throws
// std::runtime_error like make_server_tls_context; `what` names the setting in messages.
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const std::string& ca_file,
                                                                   const std::string& cert_file,
                                                                   const std::string& key_file,
                                                                   const std::string& what);

// Prepares the client side of one connection to `host`: SNI (for names, not IP addresses) and
// verification that the certificate names `host` (a DNS name, or an IP address SAN). False when
// OpenSSL refuses the name.
bool prepare_client_tls(SSL* ssl, const std::string& host);

}  // namespace fstore::server
