// The demo episode in deploy/local/demo/ is what a new user sees first: every
// line must be a valid SessionEvent and the course must be the one its
// README describes.
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "service/ctl/json_lines.h"

namespace attune::ctl {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const std::string kDemoDir =
    std::string(ATTUNE_SOURCE_DIR) + "/deploy/local/demo/";

std::vector<std::string> RawLines(const std::string& name) {
  std::ifstream in(kDemoDir + name);
  EXPECT_TRUE(in) << "cannot open " << name;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<v1::SessionEvent> Events(const std::string& name) {
  std::ifstream in(kDemoDir + name);
  EXPECT_TRUE(in) << "cannot open " << name;
  EventLines lines = ReadEventLines(in, name);
  EXPECT_THAT(lines.errors, IsEmpty());
  std::vector<v1::SessionEvent> events;
  for (NumberedEvent& e : lines.events) events.push_back(std::move(e.event));
  return events;
}

double Sum(const v1::MeasureRecorded& m) {
  double sum = 0;
  for (double item : m.items()) sum += item;
  return sum;
}

// Items are marks on a 10 cm line, read to one decimal.
bool OneDecimal(double v) {
  return std::abs(v * 10 - std::round(v * 10)) < 1e-9;
}

TEST(DemoEpisodeTest, EveryLineIsAJsonSessionEvent) {
  for (const char* name : {"episode.jsonl", "episode-part1.jsonl",
                           "episode-part2.jsonl", "invalid-event.jsonl"}) {
    const std::vector<std::string> raw = RawLines(name);
    const std::vector<v1::SessionEvent> events = Events(name);
    ASSERT_FALSE(raw.empty()) << name;
    // No comments or blanks: the files also feed jq and other JSON-lines
    // tools.
    EXPECT_EQ(events.size(), raw.size()) << name;
  }
}

TEST(DemoEpisodeTest, PartsAreTheFullEpisodeSplitAfterSession6) {
  std::vector<std::string> joined = RawLines("episode-part1.jsonl");
  for (const std::string& line : RawLines("episode-part2.jsonl")) {
    joined.push_back(line);
  }
  EXPECT_EQ(joined, RawLines("episode.jsonl"));

  const std::vector<v1::SessionEvent> part1 = Events("episode-part1.jsonl");
  int last_held = 0;
  for (const v1::SessionEvent& e : part1) {
    if (e.has_session_held()) last_held = e.session_held().session_number();
  }
  EXPECT_EQ(last_held, 6);
  EXPECT_TRUE(part1.back().has_session_scheduled());  // session 7 booked
  EXPECT_EQ(part1.back().session_scheduled().session_number(), 7);
}

TEST(DemoEpisodeTest, IdsUniqueTimesIncreasingOneEpisode) {
  const std::vector<v1::SessionEvent> events = Events("episode.jsonl");
  ASSERT_EQ(events.size(), 40u);
  std::set<std::string> ids;
  const auto now = TimeUtil::GetCurrentTime();
  for (std::size_t i = 0; i < events.size(); ++i) {
    const v1::SessionEvent& e = events[i];
    EXPECT_EQ(e.event_id(), absl::StrFormat("demo-%04d", i + 1));
    EXPECT_TRUE(ids.insert(e.event_id()).second) << e.event_id();
    EXPECT_LT(e.occurred_at(), now) << e.event_id();
    if (i > 0) {
      EXPECT_GT(e.occurred_at(), events[i - 1].occurred_at()) << e.event_id();
    }
    EXPECT_EQ(e.episode().client_id(), "demo-client-1");
    EXPECT_EQ(e.episode().clinician_id(), "demo-clinician-1");
    EXPECT_EQ(e.episode().episode_id(), "demo-episode-1");
    EXPECT_NE(e.payload_case(), v1::SessionEvent::PAYLOAD_NOT_SET);
  }
}

TEST(DemoEpisodeTest, TenWeeklyFiftyMinuteSessionsInPerson) {
  const std::vector<v1::SessionEvent> events = Events("episode.jsonl");
  const auto first = TimeUtil::SecondsToTimestamp(
      1788256800);  // 2026-09-01T10:00:00Z, a Tuesday
  std::vector<int> held;
  std::set<int> scheduled;
  std::set<int> challenging;
  for (const v1::SessionEvent& e : events) {
    if (e.has_session_scheduled()) {
      const auto& s = e.session_scheduled();
      EXPECT_EQ(s.planned_minutes(), 50);
      EXPECT_LT(e.occurred_at(), s.scheduled_start());
      scheduled.insert(s.session_number());
    }
    if (!e.has_session_held()) continue;
    const v1::SessionHeld& h = e.session_held();
    const int n = h.session_number();
    EXPECT_TRUE(scheduled.count(n)) << "session " << n << " held unbooked";
    EXPECT_EQ(h.start(), first + TimeUtil::SecondsToDuration(int64_t{7} * 24 *
                                                             3600 * (n - 1)));
    EXPECT_EQ(h.end() - h.start(), TimeUtil::MinutesToDuration(50));
    EXPECT_EQ(h.modality(), v1::MODALITY_IN_PERSON);
    EXPECT_EQ(e.occurred_at(), h.end());
    held.push_back(n);
    if (h.challenging_interventions()) challenging.insert(n);
  }
  EXPECT_THAT(held, ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  // Challenge begins at session 5; session 7 is given to the repair.
  EXPECT_EQ(*challenging.begin(), 5);
  EXPECT_FALSE(challenging.count(7));
}

TEST(DemoEpisodeTest, MeasuresAreConsistentAndTellTheStory) {
  const std::vector<v1::SessionEvent> events = Events("episode.jsonl");
  std::map<int, double> srs;
  std::set<int> ors_sessions;
  int wai_sessions = 0;
  for (const v1::SessionEvent& e : events) {
    if (!e.has_measure_recorded()) continue;
    const v1::MeasureRecorded& m = e.measure_recorded();
    EXPECT_EQ(m.rater(), v1::RATER_CLIENT);
    ASSERT_TRUE(m.has_total()) << e.event_id();
    EXPECT_NEAR(m.total(), Sum(m), 1e-9) << e.event_id();
    switch (m.instrument()) {
      case v1::INSTRUMENT_SRS:
      case v1::INSTRUMENT_ORS:
        ASSERT_EQ(m.items_size(), 4) << e.event_id();
        for (double item : m.items()) {
          EXPECT_GE(item, 0) << e.event_id();
          EXPECT_LE(item, 10) << e.event_id();
          EXPECT_TRUE(OneDecimal(item)) << e.event_id();
        }
        if (m.instrument() == v1::INSTRUMENT_SRS) {
          EXPECT_TRUE(srs.emplace(m.session_number(), m.total()).second);
        } else {
          ors_sessions.insert(m.session_number());
        }
        break;
      case v1::INSTRUMENT_WAI_SR: {
        ++wai_sessions;
        EXPECT_EQ(m.session_number(), 3);
        ASSERT_EQ(m.items_size(), 12);
        for (double item : m.items()) {
          EXPECT_GE(item, 1);
          EXPECT_LE(item, 5);
          EXPECT_EQ(item, std::round(item));
        }
        // Subscales (Hatcher & Gillaspy 2006), 1-based items: all sound.
        auto subscale = [&m](std::initializer_list<int> items) {
          double sum = 0;
          for (int i : items) sum += m.items(i - 1);
          return sum;
        };
        EXPECT_GE(subscale({1, 2, 10, 12}), 16);  // task
        EXPECT_GE(subscale({3, 5, 7, 9}), 16);    // bond
        EXPECT_GE(subscale({4, 6, 8, 11}), 16);   // goal
        break;
      }
      default:
        ADD_FAILURE() << "unexpected instrument in " << e.event_id();
    }
  }
  EXPECT_EQ(wai_sessions, 1);
  EXPECT_GE(ors_sessions.size(), 3u);
  // An SRS at the end of every session.
  ASSERT_EQ(srs.size(), 10u);
  EXPECT_EQ(srs.begin()->first, 1);
  EXPECT_EQ(srs.rbegin()->first, 10);

  constexpr double kCutoff = 36;  // concern when total < 36
  // Established by session 3: at/above the cut-off in 2 of sessions 1-3.
  EXPECT_EQ((srs[1] >= kCutoff) + (srs[2] >= kCutoff) + (srs[3] >= kCutoff), 2);
  EXPECT_GE(srs[4], kCutoff);
  EXPECT_GE(srs[5], kCutoff);
  // Rupture at 6: from ~38 to ~31, below the cut-off.
  EXPECT_LT(srs[6], kCutoff);
  EXPECT_GE(srs[5] - srs[6], 6);
  // Repair over 7-8: rising, back to (or above) the pre-drop level.
  EXPECT_GT(srs[7], srs[6]);
  EXPECT_LT(srs[7], srs[5]);
  EXPECT_GE(srs[8], srs[5]);
  EXPECT_GE(srs[8], 38);
  EXPECT_GE(srs[9], 38);
  EXPECT_GE(srs[10], 38);
}

TEST(DemoEpisodeTest, GoalsMarkerEndingAndClosure) {
  const std::vector<v1::SessionEvent> events = Events("episode.jsonl");
  int goals = 0, markers = 0, endings = 0;
  for (const v1::SessionEvent& e : events) {
    if (e.has_goals_agreed()) {
      ++goals;
      EXPECT_EQ(e.goals_agreed().session_number(), 2);
      EXPECT_GE(e.goals_agreed().goal_count(), 1);
      EXPECT_TRUE(e.goals_agreed().tasks_agreed());
    }
    if (e.has_rupture_marker()) {
      ++markers;
      EXPECT_EQ(e.rupture_marker().session_number(), 6);
      EXPECT_EQ(e.rupture_marker().type(), v1::RUPTURE_TYPE_WITHDRAWAL);
    }
    if (e.has_ending_planned()) {
      ++endings;
      EXPECT_EQ(e.ending_planned().final_session_number(), 10);
      EXPECT_EQ(e.occurred_at().seconds() / 86400,
                (1788256800 + 8 * 7 * 86400) / 86400);  // session 9's day
    }
  }
  EXPECT_EQ(goals, 1);
  EXPECT_EQ(markers, 1);
  EXPECT_EQ(endings, 1);
  ASSERT_TRUE(events.back().has_episode_closed());
  EXPECT_EQ(events.back().episode_closed().reason(), v1::ENDING_REASON_PLANNED);
}

TEST(DemoEpisodeTest, InvalidEventIsWellFormedButHasAnSrsItemOf11) {
  const std::vector<v1::SessionEvent> events = Events("invalid-event.jsonl");
  ASSERT_EQ(events.size(), 1u);
  const v1::MeasureRecorded& m = events[0].measure_recorded();
  EXPECT_EQ(m.instrument(), v1::INSTRUMENT_SRS);
  ASSERT_EQ(m.items_size(), 4);
  EXPECT_EQ(m.items(1), 11);  // the one fault: SRS items are 0-10
  EXPECT_NEAR(m.total(), Sum(m), 1e-9);
  std::set<std::string> demo_ids;
  for (const v1::SessionEvent& e : Events("episode.jsonl")) {
    demo_ids.insert(e.event_id());
  }
  EXPECT_FALSE(demo_ids.count(events[0].event_id()));
}

}  // namespace
}  // namespace attune::ctl
