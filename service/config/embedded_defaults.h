// The text of service/config/defaults.textproto, compiled in at build time
// (see embed_defaults.cmake). Read it through config::DefaultConfigText().
#ifndef ATTUNE_SERVICE_CONFIG_EMBEDDED_DEFAULTS_H_
#define ATTUNE_SERVICE_CONFIG_EMBEDDED_DEFAULTS_H_

namespace attune::config::internal {

extern const char kDefaultConfigText[];

}  // namespace attune::config::internal

#endif  // ATTUNE_SERVICE_CONFIG_EMBEDDED_DEFAULTS_H_
