// Reading a Prometheus text-format scrape in tests.
#ifndef ATTUNE_TESTS_COMMON_PROMETHEUS_TEXT_H_
#define ATTUNE_TESTS_COMMON_PROMETHEUS_TEXT_H_

#include <cstddef>
#include <string>

namespace attune::testing {

// The value of one series ("name" or "name{labels}", labels exactly as
// exposed) at the start of a line of `text`; -1 when it is absent.
inline double MetricValue(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  size_t at = 0;
  while ((at = text.find(prefix, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      return std::stod(text.substr(at + prefix.size()));
    }
    at += prefix.size();
  }
  return -1;
}

}  // namespace attune::testing

#endif  // ATTUNE_TESTS_COMMON_PROMETHEUS_TEXT_H_
