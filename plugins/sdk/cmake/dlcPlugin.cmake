# The SDK's CMake functions, used in dlc's own build and, installed, by applications
# (find_package(dlc)). Before including this file, set:
#   DLC_EXECUTABLE              the dlc compiler (a path or a target)
#   DLC_RUNTIME_INCLUDE_DIRS    where dlrt/*.h are
#   DLC_SDK_INCLUDE_DIRS        where dlc/plugin.h and the compile-time API are, with
#                               MLIR's and LLVM's include folders
#   DLC_SDK_DEFINITIONS         LLVM's compile definitions

# dlc_add_plugin(<name> SOURCES <file.cpp>...)
#   Builds lib<name>.so, the compile-time part (dlc --plugin lib<name>.so), and
#   lib<name>_rt.so, the run-time part (kernels; dlrt looks for it beside the model, in
#   DLRT_PLUGIN_PATH or in folders registered with dlrt_add_plugin_dir).
function(dlc_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "dlc_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT DLC_SDK_INCLUDE_DIRS)
    message(FATAL_ERROR "dlc_add_plugin(${name}): a plugin's compile-time part needs MLIR 22's headers "
                        "(Debian: libmlir-22-dev), which find_package(MLIR) did not find")
  endif()
  add_library(${name}_rt MODULE ${ARG_SOURCES})
  target_include_directories(${name}_rt PRIVATE ${DLC_RUNTIME_INCLUDE_DIRS})
  set_target_properties(${name}_rt PROPERTIES PREFIX "lib" CXX_VISIBILITY_PRESET hidden
                        C_VISIBILITY_PRESET hidden CXX_STANDARD 17 POSITION_INDEPENDENT_CODE ON)
  # The run-time part must link against nothing of dlc: every symbol defined here
  # (sanitizer builds leave their runtime's symbols to the executable).
  if(NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize")
    target_link_options(${name}_rt PRIVATE "LINKER:-z,defs")
  endif()

  add_library(${name} MODULE ${ARG_SOURCES})
  target_compile_definitions(${name} PRIVATE DLC_PLUGIN_COMPILER=1 ${DLC_SDK_DEFINITIONS})
  target_include_directories(${name} SYSTEM PRIVATE ${DLC_SDK_INCLUDE_DIRS} ${DLC_RUNTIME_INCLUDE_DIRS})
  set_target_properties(${name} PROPERTIES PREFIX "lib" CXX_VISIBILITY_PRESET hidden CXX_STANDARD 20
                        POSITION_INDEPENDENT_CODE ON)
  # The layer API resolves against the dlc executable that loads the plugin.
  target_link_options(${name} PRIVATE "LINKER:-z,undefs")
  add_dependencies(${name} ${name}_rt)
endfunction()

# dlc_add_model(<name> <model.dl> [PLUGINS <plugin target or file>...] [OPTIONS <dlc flags>...])
#   Compiles model.dl into <name>.so in the current build folder, as part of the build.
#   <name> is then a library target to link an application with: it adds the runtime and
#   defines DLC_MODEL_<name> as the model's path (a string literal).
function(dlc_add_model name source)
  cmake_parse_arguments(ARG "" "" "PLUGINS;OPTIONS" ${ARGN})
  get_filename_component(src "${source}" ABSOLUTE)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${name}.so")
  set(flags)
  set(deps "${src}")
  foreach(p IN LISTS ARG_PLUGINS)
    if(TARGET ${p})
      list(APPEND flags --plugin $<TARGET_FILE:${p}>)
      list(APPEND deps ${p} ${p}_rt)
    else()
      list(APPEND flags --plugin ${p})
      list(APPEND deps ${p})
    endif()
  endforeach()
  if(TARGET ${DLC_EXECUTABLE})
    list(APPEND deps ${DLC_EXECUTABLE})
  endif()
  add_custom_command(OUTPUT "${out}"
    COMMAND ${DLC_EXECUTABLE} "${src}" -o "${out}" ${flags} ${ARG_OPTIONS}
    DEPENDS ${deps}
    COMMENT "dlc ${source} -> ${name}.so" VERBATIM)
  add_custom_target(${name}_so ALL DEPENDS "${out}")
  add_library(${name} INTERFACE)
  add_dependencies(${name} ${name}_so)
  target_compile_definitions(${name} INTERFACE "DLC_MODEL_${name}=\"${out}\"")
  if(TARGET dlc::dlrt)
    target_link_libraries(${name} INTERFACE dlc::dlrt)
  elseif(TARGET dlrt)
    target_link_libraries(${name} INTERFACE dlrt)
  endif()
  # Plugins' run-time parts beside the model: the runtime looks there first.
  foreach(p IN LISTS ARG_PLUGINS)
    if(TARGET ${p}_rt)
      add_custom_command(TARGET ${name}_so POST_BUILD
        COMMAND ${CMAKE_COMMAND} -E copy_if_different $<TARGET_FILE:${p}_rt> "${CMAKE_CURRENT_BINARY_DIR}/"
        VERBATIM)
    endif()
  endforeach()
endfunction()
