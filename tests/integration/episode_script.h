// EpisodeScript: builds the events of one weekly course of therapy, so a
// scenario reads like the clinical story it tells.
#ifndef ATTUNE_TESTS_INTEGRATION_EPISODE_SCRIPT_H_
#define ATTUNE_TESTS_INTEGRATION_EPISODE_SCRIPT_H_

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "attune/v1/event.pb.h"

namespace attune::testing {

class EpisodeScript {
 public:
  // Session n is held at first_session + (n-1) weeks. By default the course
  // ends a little before now, so prompts are fresh when read.
  EpisodeScript(std::string client_id, std::string clinician_id,
                std::string episode_id,
                absl::Time first_session = absl::Now() -
                                           absl::Hours(24 * 7 * 12));

  absl::Time SessionStart(int n) const;

  v1::SessionEvent Held(int n, bool challenging = false);
  // SRS with four equal items summing to `total`.
  v1::SessionEvent Srs(int n, double total, v1::Rater rater = v1::RATER_CLIENT);
  v1::SessionEvent Wai(int n, const std::vector<double>& items,
                       v1::Rater rater = v1::RATER_CLIENT);
  v1::SessionEvent Goals(int n);
  v1::SessionEvent LateCancel(int n);
  v1::SessionEvent NoShow(int n);
  v1::SessionEvent Marker(int n, v1::RuptureType type);
  v1::SessionEvent Closed(int after_session, v1::EndingReason reason);

  // A held session with a client SRS: the usual pair.
  std::vector<v1::SessionEvent> Session(int n, double srs,
                                        bool challenging = false);

  const v1::EpisodeRef& ref() const { return ref_; }

 private:
  v1::SessionEvent Base(absl::Time at);

  v1::EpisodeRef ref_;
  absl::Time first_;
  int counter_ = 0;
};

}  // namespace attune::testing

#endif  // ATTUNE_TESTS_INTEGRATION_EPISODE_SCRIPT_H_
