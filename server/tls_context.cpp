#include "tls_context.hpp"

#include <boost/asio/ip/address.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace fstore::server {

namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's most recent error as text (and the error queue cleared), or `fallback`.
std::string openssl_error(const char* fallback) {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

// Opens `path` for reading; throws "cannot read <what> <path>: <reason>" when it cannot.
std::unique_ptr<BIO, decltype(&BIO_free)> open_file(const std::string& path, const std::string& what) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot read " + what + " " + path + ": " + std::strerror(errno));
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_fp(f, BIO_CLOSE), &BIO_free);
  if (!bio) { std::fclose(f); throw std::runtime_error("out of memory reading " + path); }
  return bio;
}

// Never asks for a passphrase (OpenSSL would prompt on the terminal): an encrypted key fails.
int no_passphrase(char*, int, int, void*) { return 0; }

// Loads the certificate chain `cert_file` and its key `key_file` into `ctx`, checking each file
// and that the key belongs to the certificate. `cert_what`/`key_what` name them in errors.
void load_pair(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file,
               const std::string& cert_what, const std::string& key_what) {
  open_file(cert_file, cert_what);  // a missing or unreadable file says so plainly
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1)
    throw std::runtime_error(cert_what + " " + cert_file + " is not a PEM certificate: " +
                             openssl_error("no certificate found"));
  auto bio = open_file(key_file, key_what);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr), &EVP_PKEY_free);
  if (!key)
    throw std::runtime_error(key_what + " " + key_file + " is not an unencrypted PEM private key: " +
                             openssl_error("no key found"));
  if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error(key_what + " " + key_file + " is not the private key of the certificate in " +
                             cert_what + " " + cert_file);
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1)
    throw std::runtime_error("cannot use " + key_what + " " + key_file + ": " + openssl_error("unknown error"));
}

// TLS 1.2 and 1.3 only, no compression, no renegotiation: what every context here shares.
std::shared_ptr<ssl::context> base_context(ssl::context::method method) {
  auto ctx = std::make_shared<ssl::context>(method);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_default_passwd_cb(native, no_passphrase);
  return ctx;
}

}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const std::string& cert_file, const std::string& key_file) {
  auto ctx = base_context(ssl::context::tls_server);
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  load_pair(ctx->native_handle(), cert_file, key_file, "--tls-cert", "--tls-key");
  return ctx;
}

std::shared_ptr<ssl::context> make_client_tls_context(const std::string& ca_file, const std::string& cert_file,
                                                      const std::string& key_file, const std::string& what) {
  auto ctx = base_context(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  ERR_clear_error();
  if (ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(native) != 1)
      throw std::runtime_error(what + ": cannot load the system's trusted CAs: " + openssl_error("unknown error"));
  } else {
    open_file(ca_file, what + " cacert");
    if (SSL_CTX_load_verify_locations(native, ca_file.c_str(), nullptr) != 1)
      throw std::runtime_error(what + " cacert " + ca_file + " is not a PEM CA bundle: " +
                               openssl_error("no certificate found"));
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  if (!cert_file.empty() || !key_file.empty()) {
    if (cert_file.empty() || key_file.empty())
      throw std::runtime_error(what + ": a client certificate needs both cert and key");
    load_pair(native, cert_file, key_file, what + " cert", what + " key");
  }
  return ctx;
}

bool prepare_client_tls(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (!ec) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

}  // namespace fstore::server
