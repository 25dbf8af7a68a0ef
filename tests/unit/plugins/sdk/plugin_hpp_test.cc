// Tests of the C++ helper attune/plugin.hpp through the entry points that
// ATTUNE_PLUGIN_DEFINE writes, driven by the fake host table.
#include <stdexcept>
#include <string>
#include <string_view>

#include "attune/plugin.hpp"
#include "fake_host.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using attune::plugin::Input;
using attune::plugin::Output;
using attune::plugin::Status;
using attune::testing::Create;
using attune::testing::Evaluate;
using attune::testing::FakeHost;
using attune::testing::Instance;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Emits the trigger back as the prompt's summary.
class EchoModule final : public attune::plugin::Module {
 public:
  static constexpr const char* kId = "test.echo";
  static constexpr const char* kVersion = "1.2.3";
  Status Configure(std::string_view config_json) override {
    if (config_json.find("bad") != std::string_view::npos) {
      return Status::InvalidArgument("threshold: must be positive");
    }
    return Status::Ok();
  }
  Status Evaluate(const Input& input, Output& out) const override {
    if (input.trigger_json().empty()) return Status::Ok();
    return out.EmitPrompt("{\"kind\":\"test.echo/x\",\"summary\":\"" +
                          std::string(input.trigger_json()) + "\"}");
  }
};

class SecondModule final : public attune::plugin::Module {
 public:
  static constexpr char kId[] = "test.second";
  static constexpr char kVersion[] = "0.1.0";
  Status Configure(std::string_view) override { return Status::Ok(); }
  Status Evaluate(const Input&, Output&) const override {
    return Status(ATTUNE_UNAVAILABLE, "second: not today");
  }
};

// Throws what its configuration says, from Configure or Evaluate.
class ThrowingModule final : public attune::plugin::Module {
 public:
  static constexpr const char* kId = "test.throws";
  static constexpr const char* kVersion = "1.0.0";
  Status Configure(std::string_view config) override {
    if (config == "configure:std") throw std::runtime_error("bad config blew");
    if (config == "configure:int") throw 42;
    mode_ = std::string(config);
    return Status::Ok();
  }
  Status Evaluate(const Input&, Output&) const override {
    if (mode_ == "evaluate:std") throw std::out_of_range("item 12 of 9");
    if (mode_ == "evaluate:int") throw 7;
    return Status::Ok();
  }

 private:
  std::string mode_;
};

}  // namespace

ATTUNE_PLUGIN_DEFINE("test-plugin", "0.0.1", "Attune tests", EchoModule,
                     SecondModule, ThrowingModule);

namespace {

const attune_module_def& Registered(attune_registrar& registrar,
                                    std::string_view id) {
  for (const attune_module_def& def : registrar.modules) {
    if (def.id == id) return def;
  }
  throw std::logic_error("module not registered");
}

class PluginHppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(
        attune_plugin_entry_points::attune_plugin_init(FakeHost(), &registrar_),
        ATTUNE_OK);
  }
  attune_registrar registrar_;
};

TEST(PluginHppInfo, DescribesThePlugin) {
  const attune_plugin_manifest* info =
      attune_plugin_entry_points::attune_plugin_info();
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->struct_size, sizeof(attune_plugin_manifest));
  EXPECT_EQ(info->abi_major, ATTUNE_PLUGIN_ABI_MAJOR);
  EXPECT_EQ(info->abi_minor, ATTUNE_PLUGIN_ABI_MINOR);
  EXPECT_STREQ(info->name, "test-plugin");
  EXPECT_STREQ(info->version, "0.0.1");
  EXPECT_STREQ(info->vendor, "Attune tests");
}

TEST(PluginHppInit, ExplainsARefusalThroughSetInitError) {
  attune_host_api other_major = *FakeHost();
  other_major.abi_major = ATTUNE_PLUGIN_ABI_MAJOR + 1;
  attune_registrar registrar;
  EXPECT_EQ(
      attune_plugin_entry_points::attune_plugin_init(&other_major, &registrar),
      ATTUNE_FAILED_PRECONDITION);
  EXPECT_EQ(registrar.init_error, "plugin built for another ABI major version");
  EXPECT_TRUE(registrar.modules.empty());
}

TEST_F(PluginHppTest, RegistersEveryModuleInOrder) {
  ASSERT_EQ(registrar_.modules.size(), 3u);
  EXPECT_THAT(registrar_.ids,
              ElementsAre("test.echo", "test.second", "test.throws"));
  const attune_module_def& echo = registrar_.modules[0];
  EXPECT_EQ(echo.struct_size, sizeof(attune_module_def));
  EXPECT_STREQ(echo.version, "1.2.3");
  EXPECT_NE(echo.create, nullptr);
  EXPECT_NE(echo.evaluate, nullptr);
  EXPECT_NE(echo.destroy, nullptr);
}

TEST_F(PluginHppTest, EvaluateEmitsThroughTheHost) {
  Instance echo;
  ASSERT_EQ(Create(Registered(registrar_, "test.echo"), "{}", echo, nullptr),
            ATTUNE_OK);
  attune_eval_output out;
  EXPECT_EQ(Evaluate(echo, "{}", "hello", out), ATTUNE_OK);
  EXPECT_THAT(out.prompts,
              ElementsAre("{\"kind\":\"test.echo/x\",\"summary\":\"hello\"}"));
  EXPECT_FALSE(out.has_error);
  echo.def->destroy(echo.handle);
}

TEST_F(PluginHppTest, StatusFromConfigureIsReported) {
  Instance echo;
  std::string error;
  EXPECT_EQ(
      Create(Registered(registrar_, "test.echo"), "{\"bad\":1}", echo, &error),
      ATTUNE_INVALID_ARGUMENT);
  EXPECT_EQ(error, "threshold: must be positive");
  EXPECT_EQ(echo.handle, nullptr);
}

TEST_F(PluginHppTest, StatusFromEvaluateIsReported) {
  Instance second;
  ASSERT_EQ(
      Create(Registered(registrar_, "test.second"), "{}", second, nullptr),
      ATTUNE_OK);
  attune_eval_output out;
  EXPECT_EQ(Evaluate(second, "{}", "{}", out), ATTUNE_UNAVAILABLE);
  EXPECT_EQ(out.error, "second: not today");
  second.def->destroy(second.handle);
}

TEST_F(PluginHppTest, StdExceptionInConfigureIsInternal) {
  Instance instance;
  std::string error;
  EXPECT_EQ(Create(Registered(registrar_, "test.throws"), "configure:std",
                   instance, &error),
            ATTUNE_INTERNAL);
  EXPECT_EQ(error, "bad config blew");
}

TEST_F(PluginHppTest, OtherExceptionInConfigureIsUnknown) {
  Instance instance;
  std::string error;
  EXPECT_EQ(Create(Registered(registrar_, "test.throws"), "configure:int",
                   instance, &error),
            ATTUNE_UNKNOWN);
  EXPECT_THAT(error, HasSubstr("unknown exception"));
}

TEST_F(PluginHppTest, StdExceptionInEvaluateIsInternal) {
  Instance instance;
  ASSERT_EQ(Create(Registered(registrar_, "test.throws"), "evaluate:std",
                   instance, nullptr),
            ATTUNE_OK);
  attune_eval_output out;
  EXPECT_EQ(Evaluate(instance, "{}", "{}", out), ATTUNE_INTERNAL);
  EXPECT_EQ(out.error, "item 12 of 9");
  EXPECT_TRUE(out.prompts.empty());
  instance.def->destroy(instance.handle);
}

TEST_F(PluginHppTest, OtherExceptionInEvaluateIsUnknown) {
  Instance instance;
  ASSERT_EQ(Create(Registered(registrar_, "test.throws"), "evaluate:int",
                   instance, nullptr),
            ATTUNE_OK);
  attune_eval_output out;
  EXPECT_EQ(Evaluate(instance, "{}", "{}", out), ATTUNE_UNKNOWN);
  EXPECT_THAT(out.error, HasSubstr("unknown exception"));
  instance.def->destroy(instance.handle);
}

TEST_F(PluginHppTest, InputFieldsBeyondStructSizeReadAsEmpty) {
  Instance echo;
  ASSERT_EQ(Create(Registered(registrar_, "test.echo"), "{}", echo, nullptr),
            ATTUNE_OK);
  attune_eval_input input{};
  input.struct_size = offsetof(attune_eval_input, trigger_json);  // older
  input.history_json = attune_str{"{}", 2};
  input.trigger_json = attune_str{"hello", 5};
  attune_eval_output out;
  EXPECT_EQ(echo.def->evaluate(echo.handle, &input, &out), ATTUNE_OK);
  EXPECT_TRUE(out.prompts.empty());
  echo.def->destroy(echo.handle);
}

TEST(PluginHppInit, StopsAtTheFirstModuleTheHostRefuses) {
  attune_registrar registrar;
  registrar.refuse_with = ATTUNE_ALREADY_EXISTS;
  EXPECT_EQ(
      attune_plugin_entry_points::attune_plugin_init(FakeHost(), &registrar),
      ATTUNE_ALREADY_EXISTS);
  EXPECT_TRUE(registrar.modules.empty());
}

TEST(PluginHppInit, RefusesAHostOfAnotherMajor) {
  attune_host_api host = *FakeHost();
  host.abi_major = ATTUNE_PLUGIN_ABI_MAJOR + 1;
  attune_registrar registrar;
  EXPECT_EQ(attune_plugin_entry_points::attune_plugin_init(&host, &registrar),
            ATTUNE_FAILED_PRECONDITION);
  EXPECT_TRUE(registrar.modules.empty());
}

TEST(PluginHppInit, RefusesATooShortHostTable) {
  attune_host_api host = *FakeHost();
  host.struct_size = offsetof(attune_host_api, log);
  attune_registrar registrar;
  EXPECT_EQ(attune_plugin_entry_points::attune_plugin_init(&host, &registrar),
            ATTUNE_FAILED_PRECONDITION);
  EXPECT_EQ(attune_plugin_entry_points::attune_plugin_init(nullptr, &registrar),
            ATTUNE_FAILED_PRECONDITION);
  EXPECT_TRUE(registrar.modules.empty());
}

}  // namespace
