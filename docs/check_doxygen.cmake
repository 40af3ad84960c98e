# Runs Doxygen and fails when it wrote any warning (the warning log is not empty).
# Usage: cmake -DDOXYGEN_EXECUTABLE=... -DDOXYFILE=... -DWARN_LOG=... -P check_doxygen.cmake

foreach(_var DOXYGEN_EXECUTABLE DOXYFILE WARN_LOG)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "check_doxygen.cmake: ${_var} is not set")
  endif()
endforeach()

# Remove the previous log so a run that fails before writing one cannot pass on a stale log.
file(REMOVE "${WARN_LOG}")
execute_process(COMMAND "${DOXYGEN_EXECUTABLE}" "${DOXYFILE}" RESULT_VARIABLE _status)
if(NOT _status EQUAL 0)
  message(FATAL_ERROR "Doxygen failed (exit status ${_status})")
endif()
if(NOT EXISTS "${WARN_LOG}")
  message(FATAL_ERROR "Doxygen wrote no warning log at ${WARN_LOG}")
endif()

file(READ "${WARN_LOG}" _warnings)
string(STRIP "${_warnings}" _warnings)
if(NOT _warnings STREQUAL "")
  string(REGEX MATCHALL "\n" _lines "${_warnings}\n")
  list(LENGTH _lines _count)
  message("${_warnings}")
  message(FATAL_ERROR "Doxygen reported ${_count} warning line(s) (log: ${WARN_LOG})")
endif()
message(STATUS "API reference built without warnings")
