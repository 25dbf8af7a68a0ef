# ctest plugin_sdk_consumer: installs ONLY the plugin SDK from the current
# build tree into a scratch prefix, then builds plugins against it the way an
# outside project would: tests/plugin_consumer, and the C example folder on
# its own. Offline; fails on any error.
#
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=...
#       [-DMAKE_PROGRAM=...] -DC_COMPILER=... -DCXX_COMPILER=... [-DNM=...]
#       -P run_consumer.cmake
foreach(_var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR C_COMPILER CXX_COMPILER)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: ${_var} is not set")
  endif()
endforeach()

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc
                  OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${step} failed (${_rc}):\n${_out}")
  endif()
  message(STATUS "${step}: ok")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(_prefix "${WORK_DIR}/prefix")

run("install the SDK component"
    ${CMAKE_COMMAND} --install "${BUILD_DIR}" --component attune_plugin_sdk
    --prefix "${_prefix}")

# Nothing but the SDK may be installed.
file(GLOB_RECURSE _installed RELATIVE "${_prefix}" "${_prefix}/*")
foreach(_f IN LISTS _installed)
  if(NOT _f MATCHES "^include/attune/plugin(\\.h|\\.hpp|_json\\.h)$" AND
     NOT _f MATCHES "^lib[^/]*/cmake/attune_plugin_sdk/attune_plugin_sdk-[a-z-]+\\.cmake$")
    message(FATAL_ERROR "the SDK component installed an unexpected file: ${_f}")
  endif()
endforeach()

set(_common -G "${GENERATOR}" "-DCMAKE_PREFIX_PATH=${_prefix}"
    "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    -DCMAKE_BUILD_TYPE=Release)
if(MAKE_PROGRAM)
  list(APPEND _common "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

run("configure tests/plugin_consumer"
    ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/plugin_consumer"
    -B "${WORK_DIR}/consumer" ${_common}
    "-DATTUNE_EXAMPLES_DIR=${SOURCE_DIR}/plugins/examples")
run("build tests/plugin_consumer"
    ${CMAKE_COMMAND} --build "${WORK_DIR}/consumer")

run("configure plugins/examples/safety_item_c on its own"
    ${CMAKE_COMMAND} -S "${SOURCE_DIR}/plugins/examples/safety_item_c"
    -B "${WORK_DIR}/example_c" ${_common})
run("build plugins/examples/safety_item_c on its own"
    ${CMAKE_COMMAND} --build "${WORK_DIR}/example_c")

# Hidden visibility: the plugins export the two entry points and nothing
# else.
if(NM)
  foreach(_so "${WORK_DIR}/consumer/consumer_safety_item_c.so"
              "${WORK_DIR}/consumer/consumer_safety_item_cpp.so"
              "${WORK_DIR}/example_c/example_safety_item_c.so")
    execute_process(COMMAND "${NM}" -D --defined-only "${_so}"
                    RESULT_VARIABLE _rc OUTPUT_VARIABLE _syms)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "nm failed on ${_so}")
    endif()
    string(REGEX MATCHALL "[^ \n]+\n" _names "${_syms}")
    string(REPLACE "\n" "" _names "${_names}")
    list(SORT _names)
    if(NOT _names STREQUAL "attune_plugin_info;attune_plugin_init")
      message(FATAL_ERROR "${_so} exports [${_names}], expected only "
                          "attune_plugin_info and attune_plugin_init")
    endif()
  endforeach()
  message(STATUS "exported symbols: ok")
endif()
