# cmake -DLIBRARY=<libkeel.so> -DREADELF=<readelf> -P libcurl_not_needed.cmake
# Fails if loading libkeel.so loads libcurl: keel loads it with dlopen on the first HTTP
# transfer (lib/llm/curl_library.cpp), so a host that never calls a remote model does not pay
# for it and the 30-odd libraries it needs at process start.
execute_process(COMMAND ${READELF} -d ${LIBRARY} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT dynamic MATCHES "\\(NEEDED\\)")
  message(FATAL_ERROR "readelf -d ${LIBRARY} failed or shows no NEEDED entry:\n${dynamic}")
endif()
if(dynamic MATCHES "\\(NEEDED\\)[^\n]*\\[(libcurl[^]]*)\\]")
  message(FATAL_ERROR "${LIBRARY} lists ${CMAKE_MATCH_1} as NEEDED; libcurl must be loaded on "
    "first use (lib/llm/curl_library.cpp), not linked")
endif()
# Nor through one of its dependencies.
execute_process(COMMAND ldd ${LIBRARY} OUTPUT_VARIABLE closure RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ldd ${LIBRARY} failed:\n${closure}")
endif()
if(closure MATCHES "(libcurl[^ \n]*)")
  message(FATAL_ERROR "loading ${LIBRARY} loads ${CMAKE_MATCH_1}:\n${closure}")
endif()
message(STATUS "${LIBRARY} does not load libcurl at start")
