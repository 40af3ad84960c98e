# Helpers for keel's tests: one doctest program per component, each TEST_CASE a ctest test.
include(${doctest_DIR}/doctest.cmake)

add_library(keel_doctest_main OBJECT ${CMAKE_CURRENT_LIST_DIR}/doctest_main.cpp)
target_link_libraries(keel_doctest_main PUBLIC doctest::doctest)

# keel_add_unit_test(<component> <sources>...) -> program test_<component>, tests "<component>: ..."
function(keel_add_unit_test component)
  add_executable(test_${component} ${ARGN} $<TARGET_OBJECTS:keel_doctest_main>)
  target_link_libraries(test_${component} PRIVATE keel_testing doctest::doctest keel_warnings)
  target_include_directories(test_${component} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(test_${component} PRIVATE
    KEEL_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    KEEL_BINARY_DIR="${PROJECT_BINARY_DIR}"
    KEEL_SHARED_DATA_DIR="${PROJECT_SOURCE_DIR}/../shared/data")
  doctest_discover_tests(test_${component} TEST_PREFIX "${component}: "
    PROPERTIES TIMEOUT 300)
endfunction()
