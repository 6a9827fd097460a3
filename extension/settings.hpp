// fstore's settings (GUCs), defined in module.cpp when the library loads.
#pragma once

namespace fstore {

// fstore.training_set_memory_limit, in kB: the most memory one create_training_set call may plan
// to use for its join state and result values (the entity rows themselves spill to disk).
extern int training_set_memory_limit_kb;

}  // namespace fstore
