# Writes OUTPUT, a C++ source that defines
# attune::config::internal::kDefaultConfigText as the text of INPUT.
#   cmake -DINPUT=defaults.textproto -DOUTPUT=embedded_defaults.cc -P embed_defaults.cmake
if(NOT INPUT OR NOT OUTPUT)
  message(FATAL_ERROR "embed_defaults.cmake needs -DINPUT=... and -DOUTPUT=...")
endif()
file(READ "${INPUT}" text)
set(delim "attune_defaults")
string(FIND "${text}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )${delim}\"")
endif()
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${name} by embed_defaults.cmake. Do not edit.\n"
  "#include \"service/config/embedded_defaults.h\"\n\n"
  "namespace attune::config::internal {\n\n"
  "const char kDefaultConfigText[] = R\"${delim}(${text})${delim}\";\n\n"
  "}  // namespace attune::config::internal\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
