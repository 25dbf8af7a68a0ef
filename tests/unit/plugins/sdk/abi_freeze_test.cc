// Freezes the plugin C ABI: plugin.h may change only together with its ABI
// version and the fingerprint recorded in plugins/sdk/abi_fingerprint.txt.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "attune/plugin.h"
#include "gtest/gtest.h"

extern "C" size_t attune_abi_c_layout(int which);  // abi_c_check.c

namespace {

// Every shared struct starts with struct_size.
static_assert(offsetof(attune_plugin_manifest, struct_size) == 0);
static_assert(offsetof(attune_eval_input, struct_size) == 0);
static_assert(offsetof(attune_module_def, struct_size) == 0);
static_assert(offsetof(attune_host_api, struct_size) == 0);
static_assert(sizeof(attune_status) == sizeof(int));

#if UINTPTR_MAX == 0xffffffffffffffffu
// The ABI 1.0 layout on LP64 (x86-64, aarch64). Appending is allowed; a
// failure here means an existing field moved: that is a new ABI major.
static_assert(sizeof(attune_str) == 16);
static_assert(offsetof(attune_plugin_manifest, abi_major) == 4);
static_assert(offsetof(attune_plugin_manifest, abi_minor) == 8);
static_assert(offsetof(attune_plugin_manifest, name) == 16);
static_assert(offsetof(attune_plugin_manifest, version) == 24);
static_assert(offsetof(attune_plugin_manifest, vendor) == 32);
static_assert(offsetof(attune_eval_input, history_json) == 8);
static_assert(offsetof(attune_eval_input, trigger_json) == 24);
static_assert(offsetof(attune_module_def, id) == 8);
static_assert(offsetof(attune_module_def, version) == 16);
static_assert(offsetof(attune_module_def, create) == 24);
static_assert(offsetof(attune_module_def, evaluate) == 32);
static_assert(offsetof(attune_module_def, destroy) == 40);
static_assert(offsetof(attune_host_api, abi_major) == 4);
static_assert(offsetof(attune_host_api, abi_minor) == 8);
static_assert(offsetof(attune_host_api, register_module) == 16);
static_assert(offsetof(attune_host_api, emit_prompt) == 24);
static_assert(offsetof(attune_host_api, set_error) == 32);
static_assert(offsetof(attune_host_api, log) == 40);
#endif

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

uint64_t Fnv1a64(const std::string& bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::string Hex(uint64_t value) {
  std::ostringstream out;
  out << std::hex;
  out.width(16);
  out.fill('0');
  out << value;
  return out.str();
}

TEST(PluginAbi, HeaderMatchesRecordedFingerprint) {
  const std::string header =
      ReadFile(ATTUNE_SOURCE_DIR "/plugins/sdk/include/attune/plugin.h");
  std::istringstream record(
      ReadFile(ATTUNE_SOURCE_DIR "/plugins/sdk/abi_fingerprint.txt"));
  std::string recorded_abi, recorded_hash, line;
  while (std::getline(record, line)) {
    if (line.rfind("abi ", 0) == 0) recorded_abi = line.substr(4);
    if (line.rfind("fnv1a64 ", 0) == 0) recorded_hash = line.substr(8);
  }
  const std::string abi = std::to_string(ATTUNE_PLUGIN_ABI_MAJOR) + "." +
                          std::to_string(ATTUNE_PLUGIN_ABI_MINOR);
  const std::string hash = Hex(Fnv1a64(header));
  const std::string how =
      "plugins/sdk/include/attune/plugin.h is the frozen plugin ABI. If you "
      "changed it on purpose: bump ATTUNE_PLUGIN_ABI_MINOR for an "
      "append-only change (fields at the end of a struct, host functions at "
      "the end of attune_host_api) or ATTUNE_PLUGIN_ABI_MAJOR (and reset "
      "MINOR to 0) for anything that changes existing layout or meaning; a "
      "comment-only change keeps the version. Then write\n  abi " +
      abi + "\n  fnv1a64 " + hash + "\ninto plugins/sdk/abi_fingerprint.txt.";
  EXPECT_EQ(recorded_abi, abi)
      << "the ABI version in plugin.h differs from the recorded one.\n"
      << how;
  EXPECT_EQ(recorded_hash, hash) << "plugin.h changed.\n" << how;
}

TEST(PluginAbi, HeaderCompilesAsC99WithTheSameLayout) {
  EXPECT_EQ(attune_abi_c_layout(0), sizeof(attune_plugin_manifest));
  EXPECT_EQ(attune_abi_c_layout(1), sizeof(attune_eval_input));
  EXPECT_EQ(attune_abi_c_layout(2), sizeof(attune_module_def));
  EXPECT_EQ(attune_abi_c_layout(3), sizeof(attune_host_api));
  EXPECT_EQ(attune_abi_c_layout(4), offsetof(attune_host_api, log));
  EXPECT_EQ(attune_abi_c_layout(5), offsetof(attune_module_def, destroy));
  EXPECT_EQ(attune_abi_c_layout(6), sizeof(attune_status));
}

TEST(PluginAbi, SymbolNamesAreStable) {
  EXPECT_STREQ(ATTUNE_PLUGIN_INFO_SYMBOL, "attune_plugin_info");
  EXPECT_STREQ(ATTUNE_PLUGIN_INIT_SYMBOL, "attune_plugin_init");
}

}  // namespace
