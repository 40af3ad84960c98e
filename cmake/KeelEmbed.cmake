# keel_embed_text(<target> <symbol> <file>): compiles <file> into <target> as
# `extern const std::string_view <symbol>` (namespace keel::embedded). Used for the firewall's
# pattern catalogues, which are data kept in readable JSON. The source is written at configure
# time and CMake re-configures when the file changes (CMAKE_CONFIGURE_DEPENDS), so it works from
# any directory (a custom command's output only gets a rule in its consumer's directory).
function(keel_embed_text target symbol file)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_${symbol}.cpp)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${file})
  file(READ "${file}" content)
  string(FIND "${content}" ")keel_embedded\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw-string delimiter )keel_embedded\"")
  endif()
  file(CONFIGURE OUTPUT ${out} CONTENT
"// Generated from ${file} by cmake/KeelEmbed.cmake; do not edit.
#include <string_view>
namespace keel::embedded {
extern const std::string_view ${symbol};
const std::string_view ${symbol} = R\"keel_embedded(@content@)keel_embedded\";
}  // namespace keel::embedded
" @ONLY)
  target_sources(${target} PRIVATE ${out})
endfunction()
