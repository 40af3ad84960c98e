/// \file
/// keel's core: errors, JSON and configuration helpers, the executor, events and the version.
#pragma once

#include "keel/error.hpp"
#include "keel/events.hpp"
#include "keel/executor.hpp"
#include "keel/json.hpp"
#include "keel/result.hpp"
#include "keel/version.hpp"
