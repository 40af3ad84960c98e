/// \file
/// Everything in keel's C++ API.
#pragma once

#include "keel/agent.hpp"
#include "keel/core.hpp"
#include "keel/firewall.hpp"
#include "keel/knowledge.hpp"
#include "keel/llm.hpp"
#include "keel/resilience.hpp"
#include "keel/router.hpp"
#include "keel/tools.hpp"
