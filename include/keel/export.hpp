/// \file
/// Symbol visibility for keel's public C++ API. libkeel.so is built with hidden visibility, so
/// only what is marked KEEL_API (and the C functions of keel.h) is exported.
#pragma once

#ifndef KEEL_API
#if defined(_WIN32)
#if defined(KEEL_BUILDING_LIBRARY)
#define KEEL_API __declspec(dllexport)
#else
#define KEEL_API __declspec(dllimport)
#endif
#else
#define KEEL_API __attribute__((visibility("default")))
#endif
#endif
