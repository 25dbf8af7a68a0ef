// RuleSet and its swap in AllianceEngine: settings that name unknown
// modules are refused, tenants get their merged rules (and only they do),
// module counters survive a reload, and a swap under load neither fails a
// request nor mixes two sets within one.
#include "service/engine/rule_set.h"

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/config/config_loader.h"
#include "service/engine/alliance_engine.h"
#include "service/store/sqlite/sqlite_store.h"

namespace attune::engine {
namespace {

const absl::Time kStart = absl::Now() - absl::Hours(24 * 7 * 20);

// Proposes `count` prompts of distinct kinds on every event. Its version is
// whatever the test says (the concurrency test uses the set's generation).
class ManyModule : public RuleModule {
 public:
  explicit ManyModule(std::string version = "1.0.0", int count = 3)
      : version_(std::move(version)), count_(count) {}
  std::string_view id() const override { return "test.many"; }
  std::string_view version() const override { return version_; }
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  absl::Status Evaluate(const RuleInput&, RuleOutput& out) const override {
    for (int i = 0; i < count_; ++i) {
      ProposedPrompt p;
      p.prompt.set_kind(absl::StrCat("test.many/k", i));
      p.prompt.set_severity(v1::SEVERITY_WARNING);
      p.prompt.set_summary(version_);
      p.strength = 1;
      out.prompts.push_back(p);
    }
    return absl::OkStatus();
  }

 private:
  std::string version_;
  int count_;
};

// Proposes nothing; just counts as a module.
class QuietModule : public RuleModule {
 public:
  std::string_view id() const override { return "test.quiet"; }
  std::string_view version() const override { return "1.0.0"; }
  bool Enabled(const v1::RulesConfig&) const override { return true; }
  absl::Status Evaluate(const RuleInput&, RuleOutput&) const override {
    return absl::OkStatus();
  }
};

std::vector<std::unique_ptr<RuleModule>> Modules(
    const std::string& version = "1.0.0") {
  std::vector<std::unique_ptr<RuleModule>> modules;
  modules.push_back(std::make_unique<ManyModule>(version));
  modules.push_back(std::make_unique<QuietModule>());
  return modules;
}

v1::ServerConfig Defaults() {
  absl::StatusOr<v1::ServerConfig> config = config::DefaultConfig();
  EXPECT_TRUE(config.ok()) << config.status();
  return config.value_or(v1::ServerConfig());
}

v1::TenantRules* AddTenant(v1::ServerConfig& config, const std::string& name) {
  v1::TenantRules* t = config.add_tenants();
  t->set_tenant(name);
  return t;
}

const ModuleHealth* FindHealth(const std::vector<ModuleHealth>& all,
                               const std::string& id) {
  for (const ModuleHealth& h : all) {
    if (h.module_id == id) return &h;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// RuleSet::Create

TEST(RuleSetCreateTest, ServerSettingsNamingAnUnknownModuleAreRefused) {
  v1::ServerConfig config = Defaults();
  config.mutable_rules()->add_modules()->set_module_id("test.quiet");
  config.mutable_rules()->add_modules()->set_module_id("acme.typo");
  auto set = RuleSet::Create(config, Modules());
  ASSERT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(set.status().message(), "rules.modules[1].module_id: "))
      << set.status();
  EXPECT_NE(set.status().message().find("acme.typo"), std::string::npos);
}

TEST(RuleSetCreateTest, ServerPolicyNamingAnUnknownModuleIsRefused) {
  v1::ServerConfig config = Defaults();
  v1::ModulePolicy* p = config.mutable_rules()->add_module_policies();
  p->set_module_id("acme.safety");
  p->set_on_error(v1::ModulePolicy::ON_ERROR_FAIL);
  auto set = RuleSet::Create(config, Modules());
  ASSERT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(set.status().message(),
                               "rules.module_policies[0].module_id: "))
      << set.status();
}

TEST(RuleSetCreateTest, TenantSettingsNamingAnUnknownModuleAreRefused) {
  v1::ServerConfig config = Defaults();
  AddTenant(config, "clinic-a")
      ->mutable_rules()
      ->add_modules()
      ->set_module_id("test.many");
  AddTenant(config, "clinic-b")
      ->mutable_rules()
      ->add_modules()
      ->set_module_id("acme.typo");
  auto set = RuleSet::Create(config, Modules());
  ASSERT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(set.status().message(),
                               "tenants[1].rules.modules[0].module_id: "))
      << set.status();
}

TEST(RuleSetCreateTest, TenantPolicyNamingAnUnknownModuleIsRefused) {
  v1::ServerConfig config = Defaults();
  v1::ModulePolicy* p =
      AddTenant(config, "clinic-a")->mutable_rules()->add_module_policies();
  p->set_module_id("acme.safety");
  p->set_on_error(v1::ModulePolicy::ON_ERROR_SKIP);
  auto set = RuleSet::Create(config, Modules());
  ASSERT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(set.status().message(),
                       "tenants[0].rules.module_policies[0].module_id: "))
      << set.status();
}

TEST(RuleSetCreateTest, GenerationFollowsThePreviousSet) {
  auto first = RuleSet::Create(Defaults(), Modules());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->generation(), 1);
  auto second = RuleSet::Create(Defaults(), Modules(), first->get());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->generation(), 2);
}

TEST(RuleSetCreateTest, RulesForMergesTheTenantOverTheServer) {
  v1::ServerConfig config = Defaults();
  AddTenant(config, "clinic-a")
      ->mutable_rules()
      ->mutable_rupture()
      ->set_sd_multiplier(2.5);
  auto set = RuleSet::Create(config, Modules());
  ASSERT_TRUE(set.ok()) << set.status();
  const v1::RulesConfig& a = (*set)->RulesFor("clinic-a");
  EXPECT_DOUBLE_EQ(a.rupture().sd_multiplier(), 2.5);
  // Everything the tenant did not set is the server's.
  EXPECT_EQ(a.rupture().min_prior_ratings_for_sd(),
            config.rules().rupture().min_prior_ratings_for_sd());
  EXPECT_EQ(a.instruments_size(), config.rules().instruments_size());
  EXPECT_EQ(a.budget().max_visible_per_episode(),
            config.rules().budget().max_visible_per_episode());
  // A tenant without settings runs the server's rules.
  EXPECT_DOUBLE_EQ((*set)->RulesFor("clinic-b").rupture().sd_multiplier(),
                   config.rules().rupture().sd_multiplier());
  EXPECT_NE(config.rules().rupture().sd_multiplier(), 2.5);
}

// ---------------------------------------------------------------------------
// Through the engine.

class RuleSetEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteStoreOptions options;
    options.path =
        ::testing::TempDir() + "rule-set-" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
    std::remove(options.path.c_str());
    std::remove((options.path + "-wal").c_str());
    std::remove((options.path + "-shm").c_str());
    auto store = store::OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void StartEngine(const v1::ServerConfig& config) {
    auto engine = AllianceEngine::Create(store_.get(), config, Modules());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  // A client SRS of an episode of its own.
  static v1::SessionEvent Srs(const std::string& episode, int session = 1) {
    v1::SessionEvent e;
    e.set_event_id(absl::StrCat(episode, "-srs-", session));
    *e.mutable_occurred_at() =
        ToProto(kStart + absl::Hours(24 * 7) * session + absl::Minutes(50));
    e.mutable_episode()->set_client_id("client-" + episode);
    e.mutable_episode()->set_clinician_id("clinician-1");
    e.mutable_episode()->set_episode_id(episode);
    auto* m = e.mutable_measure_recorded();
    m->set_session_number(session);
    m->set_instrument(v1::INSTRUMENT_SRS);
    m->set_rater(v1::RATER_CLIENT);
    m->set_total(30);
    m->set_has_total(true);
    return e;
  }

  int VisiblePrompts(const std::string& tenant, const std::string& episode) {
    auto r = engine_->Submit(tenant, Srs(episode));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->prompts_size() : -1;
  }

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<AllianceEngine> engine_;
};

TEST_F(RuleSetEngineTest, TenantBudgetOverrideChangesOnlyThatTenantsPrompts) {
  v1::ServerConfig config = Defaults();
  ASSERT_EQ(config.rules().budget().max_visible_per_episode(), 2);
  AddTenant(config, "small")
      ->mutable_rules()
      ->mutable_budget()
      ->set_max_visible_per_episode(1);
  AddTenant(config, "large")
      ->mutable_rules()
      ->mutable_budget()
      ->set_max_visible_per_episode(3);
  StartEngine(config);
  // The same event, three proposals: each tenant sees what its budget says.
  EXPECT_EQ(VisiblePrompts("small", "ep"), 1);
  EXPECT_EQ(VisiblePrompts("large", "ep"), 3);
  EXPECT_EQ(VisiblePrompts("other", "ep"), 2);
}

TEST_F(RuleSetEngineTest, ModuleDisabledForOneTenantOnly) {
  v1::ServerConfig config = Defaults();
  v1::ModuleSettings* off =
      AddTenant(config, "no-many")->mutable_rules()->add_modules();
  off->set_module_id("test.many");
  off->set_enabled(false);
  StartEngine(config);
  EXPECT_EQ(VisiblePrompts("no-many", "ep"), 0);
  EXPECT_EQ(VisiblePrompts("other", "ep"), 2);
  std::shared_ptr<const RuleSet> set = engine_->rules();
  const std::vector<ModuleHealth> tenant_health =
      set->pipeline().Health(set->RulesFor("no-many"));
  const std::vector<ModuleHealth> other_health =
      set->pipeline().Health(set->RulesFor("other"));
  const ModuleHealth* for_tenant = FindHealth(tenant_health, "test.many");
  const ModuleHealth* for_other = FindHealth(other_health, "test.many");
  ASSERT_NE(for_tenant, nullptr);
  ASSERT_NE(for_other, nullptr);
  EXPECT_FALSE(for_tenant->enabled);
  EXPECT_TRUE(for_other->enabled);
  // It ran for the other tenant only.
  EXPECT_EQ(for_other->evaluations, 1);
}

TEST_F(RuleSetEngineTest, InstallRulesRefusesASetThatIsNotNewer) {
  StartEngine(Defaults());
  std::shared_ptr<const RuleSet> first = engine_->rules();
  ASSERT_EQ(first->generation(), 1);
  auto second = RuleSet::Create(Defaults(), Modules(), first.get());
  auto rival = RuleSet::Create(Defaults(), Modules(), first.get());
  ASSERT_TRUE(second.ok() && rival.ok());
  ASSERT_TRUE(engine_->InstallRules(*second).ok());
  EXPECT_EQ(engine_->rules()->generation(), 2);
  // Two reloads built on the same set: the second to arrive loses.
  absl::Status raced = engine_->InstallRules(*rival);
  EXPECT_EQ(raced.code(), absl::StatusCode::kFailedPrecondition) << raced;
  auto older = RuleSet::Create(Defaults(), Modules());
  ASSERT_TRUE(older.ok());
  EXPECT_EQ(engine_->InstallRules(*older).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->rules().get(), second->get());
}

TEST_F(RuleSetEngineTest, CountersSurviveAReload) {
  StartEngine(Defaults());
  ASSERT_EQ(VisiblePrompts("t", "ep-1"), 2);
  ASSERT_EQ(VisiblePrompts("t", "ep-2"), 2);
  std::shared_ptr<const RuleSet> before = engine_->rules();
  auto next = RuleSet::Create(Defaults(), Modules("1.1.0"), before.get());
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(engine_->InstallRules(*next).ok());
  ASSERT_EQ(VisiblePrompts("t", "ep-3"), 2);
  std::shared_ptr<const RuleSet> after = engine_->rules();
  const std::vector<ModuleHealth> health =
      after->pipeline().Health(after->config().rules());
  const ModuleHealth* many = FindHealth(health, "test.many");
  ASSERT_NE(many, nullptr);
  EXPECT_EQ(many->module_version, "1.1.0");
  EXPECT_EQ(many->evaluations, 3);
}

// Submissions on many threads while another thread keeps installing new
// sets: nothing fails, and each response comes from exactly one set. Set g
// has a module whose version (and prompt summaries) is g, and an alert
// budget of 1 for odd g and 3 for even g, so a response mixing the module of
// one set with the rules of another shows.
TEST_F(RuleSetEngineTest, SwapsUnderLoadNeverFailOrMixASubmission) {
  auto config_for = [](int64_t generation) {
    v1::ServerConfig config = Defaults();
    config.mutable_rules()->mutable_budget()->set_max_visible_per_episode(
        generation % 2 == 1 ? 1 : 3);
    return config;
  };
  {
    auto first = RuleSet::Create(config_for(1), Modules("1"));
    ASSERT_TRUE(first.ok()) << first.status();
    engine_ = AllianceEngine::Create(store_.get(), *first);
  }

  constexpr int kSubmitters = 4;
  constexpr int kMinPerSubmitter = 10;
  constexpr int kMinInstalls = 10;
  std::atomic<bool> stop{false};
  std::atomic<int> installs{0};
  std::atomic<int> failed_installs{0};
  std::thread installer([&] {
    while (!stop.load()) {
      std::shared_ptr<const RuleSet> current = engine_->rules();
      const int64_t g = current->generation() + 1;
      auto next = RuleSet::Create(config_for(g), Modules(absl::StrCat(g)),
                                  current.get());
      if (!next.ok() || !engine_->InstallRules(*next).ok()) {
        failed_installs.fetch_add(1);
        return;
      }
      installs.fetch_add(1);
    }
  });

  std::atomic<int> failed{0};
  std::atomic<int> mixed{0};
  std::mutex seen_mu;
  std::set<std::string> versions_seen;
  std::vector<std::thread> submitters;
  for (int t = 0; t < kSubmitters; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kMinPerSubmitter || installs.load() < kMinInstalls;
           ++i) {
        auto r = engine_->Submit("t", Srs(absl::StrCat("ep-", t, "-", i)));
        if (!r.ok()) {
          failed.fetch_add(1);
          ADD_FAILURE() << r.status();
          continue;
        }
        if (r->prompts_size() == 0) {
          mixed.fetch_add(1);
          continue;
        }
        const std::string version = r->prompts(0).module_version();
        const int expected = std::stoll(version) % 2 == 1 ? 1 : 3;
        bool consistent = r->prompts_size() == expected;
        for (const v1::Prompt& p : r->prompts()) {
          consistent = consistent && p.module_version() == version &&
                       p.summary() == version;
        }
        if (!consistent) {
          mixed.fetch_add(1);
          ADD_FAILURE() << "a response mixes rule sets: " << r->DebugString();
        }
        std::lock_guard<std::mutex> lock(seen_mu);
        versions_seen.insert(version);
      }
    });
  }
  for (std::thread& s : submitters) s.join();
  stop.store(true);
  installer.join();

  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_EQ(failed_installs.load(), 0);
  EXPECT_GE(installs.load(), kMinInstalls);
  // The submissions really straddled several sets.
  EXPECT_GE(versions_seen.size(), 2u);
}

}  // namespace
}  // namespace attune::engine
