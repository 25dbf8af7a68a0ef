/* plugin.h compiled as strict C99: struct_size first, and the same layout as
 * C++ sees (abi_freeze_test.cc compares). */
#include <stddef.h>

#include "attune/plugin.h"

/* C99 has no static_assert: a negative array size fails the build. */
#define ABI_CHECK(name, cond) typedef char abi_check_##name[(cond) ? 1 : -1]

ABI_CHECK(info_first, offsetof(attune_plugin_manifest, struct_size) == 0);
ABI_CHECK(input_first, offsetof(attune_eval_input, struct_size) == 0);
ABI_CHECK(def_first, offsetof(attune_module_def, struct_size) == 0);
ABI_CHECK(host_first, offsetof(attune_host_api, struct_size) == 0);

size_t attune_abi_c_layout(int which);

size_t attune_abi_c_layout(int which) {
  switch (which) {
    case 0:
      return sizeof(attune_plugin_manifest);
    case 1:
      return sizeof(attune_eval_input);
    case 2:
      return sizeof(attune_module_def);
    case 3:
      return sizeof(attune_host_api);
    case 4:
      return offsetof(attune_host_api, log);
    case 5:
      return offsetof(attune_module_def, destroy);
    case 6:
      return sizeof(attune_status);
    default:
      return 0;
  }
}
