# Installation: headers, libkeel.so (with SOVERSION), keelConfig.cmake (target keel::keel) with a
# SameMajorVersion version file, and keel.pc. A build-tree keel.pc (build/pkgconfig) lets the Go
# binding and C consumers build against an uninstalled tree.
include(CMakePackageConfigHelpers)

install(TARGETS keel EXPORT keelTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/keel DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/capi/include/keel.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(KEEL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/keel)
install(EXPORT keelTargets NAMESPACE keel:: DESTINATION ${KEEL_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/keelConfig.cmake.in
  ${PROJECT_BINARY_DIR}/keelConfig.cmake INSTALL_DESTINATION ${KEEL_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/keelConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/keelConfig.cmake ${PROJECT_BINARY_DIR}/keelConfigVersion.cmake
  DESTINATION ${KEEL_CMAKE_DIR})

# pkg-config: the installed file...
# Relocatable: the prefix is found from where keel.pc lies, so an installed tree can be moved.
file(RELATIVE_PATH _keel_pc_to_prefix "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" _keel_pc_to_prefix "${_keel_pc_to_prefix}")
set(KEEL_PC_PREFIX "\${pcfiledir}/${_keel_pc_to_prefix}")
set(KEEL_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
set(KEEL_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
set(KEEL_PC_CFLAGS "-I\${includedir}")
set(KEEL_PC_LIBS "-L\${libdir} -lkeel")
configure_file(${CMAKE_CURRENT_LIST_DIR}/keel.pc.in ${PROJECT_BINARY_DIR}/keel.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/keel.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ...and one for the build tree (headers from the source tree, library from build/lib, with an
# rpath so programs built against it run without LD_LIBRARY_PATH).
set(KEEL_PC_PREFIX "${PROJECT_BINARY_DIR}")
set(KEEL_PC_LIBDIR "${PROJECT_BINARY_DIR}/lib")
set(KEEL_PC_INCLUDEDIR "${PROJECT_SOURCE_DIR}/include")
set(KEEL_PC_CFLAGS "-I${PROJECT_SOURCE_DIR}/include -I${PROJECT_SOURCE_DIR}/capi/include")
set(KEEL_PC_LIBS "-L\${libdir} -Wl,-rpath,\${libdir} -lkeel")
configure_file(${CMAKE_CURRENT_LIST_DIR}/keel.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/keel.pc @ONLY)
