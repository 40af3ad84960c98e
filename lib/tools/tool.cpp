// Tool and ToolRegistry: schema checks, the three kinds of handler, the tools file.
#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>

#include "keel/tools.hpp"
#include "tools/checked_call.hpp"
#include "tools/json_schema.hpp"
#include "tools/subprocess.hpp"

namespace keel {

struct Tool::Impl {
  ToolSpec spec;
  std::optional<tools::JsonSchema> schema;
  bool idempotent = false;
  Function function;
  AsyncFunction async_function;
  std::optional<SkillOptions> skill;
};

namespace {

std::shared_ptr<Tool::Impl> make_impl(ToolSpec spec) {
  if (spec.name.empty()) throw Error(Errc::invalid_argument, "tool: empty name");
  auto impl = std::make_shared<Tool::Impl>();
  impl->schema = tools::JsonSchema::parse(spec.parameters, "tool " + spec.name + ": parameters");
  impl->spec = std::move(spec);
  return impl;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

// The first bytes of a text for an error message.
std::string excerpt(std::string_view text, std::size_t limit = 200) {
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

void run_skill(const Tool::Impl& impl, Json arguments, const ToolContext& context,
               Callback<Json> done, Executor& executor) {
  const SkillOptions& options = *impl.skill;
  tools::SubprocessSpec spec;
  spec.command = options.command;
  spec.working_directory = options.working_directory;
  spec.environment_allow = options.environment_allow;
  spec.environment = options.environment;
  spec.max_output_bytes = options.max_output_bytes;
  spec.timeout = options.timeout;
  const bool deadline_first =
      context.deadline.is_set() && context.deadline.remaining() < options.timeout;
  if (deadline_first) {
    spec.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        context.deadline.remaining());
  }
  Json request = {{"tool", impl.spec.name}, {"arguments", std::move(arguments)},
                  {"call_id", context.call_id}};
  const std::string name = impl.spec.name;
  tools::run_subprocess(
      executor, spec, request.dump(), context.cancel,
      [name, deadline_first, done = std::move(done)](Result<tools::SubprocessResult> outcome) {
        if (!outcome.ok()) {
          done(Error(Errc::tool, name + ": " + outcome.error().what()));
          return;
        }
        const auto& run = outcome.value();
        if (run.timed_out) {
          done(Error(Errc::timeout, name + ": " + (deadline_first ? "the deadline passed; " : "") +
                                        run.failure()));
        } else if (run.cancelled) {
          done(Error(Errc::cancelled, name + ": cancelled"));
        } else if (!run.succeeded()) {
          done(Error(Errc::tool, name + ": " + run.failure()));
        } else {
          Json value = Json::parse(run.output, nullptr, false);
          if (value.is_discarded()) {
            done(Error(Errc::tool, name + ": its output is not JSON: " + excerpt(run.output)));
          } else {
            done(std::move(value));
          }
        }
      });
}

}  // namespace

Tool::Tool(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Tool::Tool(ToolSpec spec, Function handler) : impl_(make_impl(std::move(spec))) {
  if (!handler) throw Error(Errc::invalid_argument, "tool " + impl_->spec.name + ": no handler");
  impl_->function = std::move(handler);
}

Tool Tool::asynchronous(ToolSpec spec, AsyncFunction handler) {
  auto impl = make_impl(std::move(spec));
  if (!handler) throw Error(Errc::invalid_argument, "tool " + impl->spec.name + ": no handler");
  impl->async_function = std::move(handler);
  return Tool(std::move(impl));
}

Tool Tool::skill(ToolSpec spec, SkillOptions options) {
  auto impl = make_impl(std::move(spec));
  if (options.command.empty() || options.command[0].empty())
    throw Error(Errc::invalid_argument, "tool " + impl->spec.name + ": empty command");
  if (options.timeout.count() <= 0)
    throw Error(Errc::invalid_argument, "tool " + impl->spec.name + ": timeout must be > 0");
  if (options.max_output_bytes == 0)
    throw Error(Errc::invalid_argument, "tool " + impl->spec.name + ": max_output_bytes is 0");
  impl->skill = std::move(options);
  return Tool(std::move(impl));
}

Tool Tool::from_json(const Json& json, const std::string& path) {
  ConfigReader reader(json, path);
  ToolSpec spec;
  spec.name = reader.required<std::string>("name");
  if (spec.name.empty()) throw Error(Errc::invalid_config, reader.path_of("name") + ": empty");
  spec.description = reader.optional<std::string>("description", "");
  if (const Json* parameters = reader.raw("parameters")) spec.parameters = *parameters;
  SkillOptions options;
  options.command = reader.required<std::vector<std::string>>("command");
  if (options.command.empty() || options.command[0].empty())
    throw Error(Errc::invalid_config, reader.path_of("command") + ": must name a program");
  options.timeout = std::chrono::milliseconds(reader.integer("timeout_ms", 30000, 1, 3600000));
  options.working_directory = reader.optional<std::string>("working_directory", "");
  options.environment_allow =
      reader.optional<std::vector<std::string>>("env_allow", options.environment_allow);
  if (const Json* env = reader.raw("env")) {
    if (!env->is_object())
      throw Error(Errc::invalid_config, reader.path_of("env") + ": must be an object of strings");
    for (const auto& [name, value] : env->items()) {
      if (!value.is_string()) {
        throw Error(Errc::invalid_config,
                    json_path_join(reader.path_of("env"), name) + ": must be a string");
      }
      options.environment[name] = value.get<std::string>();
    }
  }
  options.max_output_bytes = static_cast<std::size_t>(
      reader.integer("max_output_bytes", 1 << 20, 1, std::int64_t{1} << 30));
  const bool idempotent = reader.optional<bool>("idempotent", false);
  reader.finish();
  try {
    Tool tool = skill(std::move(spec), std::move(options));
    tool.impl_->idempotent = idempotent;
    return tool;
  } catch (const Error& e) {
    throw Error(Errc::invalid_config, reader.path_of("parameters") + ": " + e.what());
  }
}

const ToolSpec& Tool::spec() const noexcept { return impl_->spec; }
const std::string& Tool::name() const noexcept { return impl_->spec.name; }
bool Tool::idempotent() const noexcept { return impl_->idempotent; }

Tool& Tool::set_idempotent(bool idempotent) {
  if (impl_->idempotent != idempotent) {
    impl_ = std::make_shared<Impl>(*impl_);  // copies of this tool keep their own flag
    impl_->idempotent = idempotent;
  }
  return *this;
}

const SkillOptions* Tool::skill_options() const noexcept {
  return impl_->skill ? &*impl_->skill : nullptr;
}

std::vector<std::string> Tool::check(const Json& arguments) const {
  return impl_->schema->violations(arguments);
}

namespace {

// Stops waiting for an in-process handler at the caller's deadline or cancellation: `done` then
// gets timeout or cancelled at once, the handler's own token is cancelled, and whatever it
// returns later is dropped; so is an answer given after the deadline, even one that comes
// before the deadline's timer has run (the C ABI tells a handler it is cancelled once the
// deadline has passed). (Skills are killed by their runner instead.)
struct Watch {
  std::mutex mutex;
  bool finished = false;
  Deadline deadline;
  Callback<Json> done;
  CancellationSource handler_cancel;
  Timer timer;
  CancellationToken::Registration caller;
};

Error no_answer(const std::string& name) { return Error(Errc::timeout, name + ": no answer before the deadline"); }

void complete(const std::shared_ptr<Watch>& watch, Result<Json> result, bool cancel_handler) {
  Callback<Json> done;
  Timer timer;
  CancellationToken::Registration caller;
  {
    std::lock_guard lock(watch->mutex);
    if (watch->finished) return;
    watch->finished = true;
    done = std::move(watch->done);
    timer = watch->timer;
    caller = std::move(watch->caller);
  }
  timer.cancel();
  if (cancel_handler) watch->handler_cancel.cancel();
  caller.reset();
  done(std::move(result));
}

// Returns the callback to give the handler, and replaces the context's token by the handler's.
Callback<Json> watched(const std::string& name, ToolContext& context, Callback<Json> done,
                       Executor& executor) {
  if (!context.deadline.is_set() && !context.cancel.can_be_cancelled()) return done;
  auto watch = std::make_shared<Watch>();
  watch->done = std::move(done);
  watch->deadline = context.deadline;
  CancellationToken caller_token = context.cancel;
  context.cancel = watch->handler_cancel.token();
  // The timer and the registration hold the watch: a handler that drops its callback must not
  // take the caller's completion with it. complete() releases both.
  Timer timer;
  if (context.deadline.is_set()) {
    timer = executor.at(context.deadline, [watch, name](bool fired) {
      if (fired) complete(watch, no_answer(name), true);
    });
  }
  auto registration = caller_token.on_cancel([watch, name, &executor] {
    executor.post([watch, name] { complete(watch, Error(Errc::cancelled, name + ": cancelled"), true); });
  });
  std::lock_guard lock(watch->mutex);
  if (watch->finished) {
    timer.cancel();
  } else {
    watch->timer = timer;
    watch->caller = std::move(registration);
  }
  return [watch, name](Result<Json> result) {
    if (watch->deadline.is_set() && watch->deadline.expired()) {
      complete(watch, no_answer(name), true);
    } else {
      complete(watch, std::move(result), false);
    }
  };
}

}  // namespace

void Tool::call_async(Json arguments, ToolContext context, Callback<Json> done,
                      Executor& executor) const {
  auto violations = check(arguments);
  if (!violations.empty()) {
    Error error(Errc::invalid_argument, "invalid arguments for " + impl_->spec.name + ": " + joined(violations));
    executor.post([done = std::move(done), error = std::move(error)] { done(error); });
    return;
  }
  detail::call_checked(*this, std::move(arguments), std::move(context), std::move(done), executor);
}

void detail::call_checked(const Tool& tool, Json arguments, ToolContext context, Callback<Json> done,
                         Executor& executor) {
  auto impl = tool.impl_;
  auto fail = [&](Error error) {
    executor.post([done, error = std::move(error)] { done(error); });
  };
  if (context.cancel.cancelled()) return fail(Error(Errc::cancelled, impl->spec.name + ": cancelled"));
  if (context.deadline.expired()) {
    return fail(Error(Errc::timeout, impl->spec.name + ": the deadline passed before it ran"));
  }
  if (impl->skill) return run_skill(*impl, std::move(arguments), context, std::move(done), executor);

  done = watched(impl->spec.name, context, std::move(done), executor);
  if (impl->function) {
    // A blocking handler runs on the blocking pool: one that hangs holds a pool thread, never
    // the event loop that times it out and cancels it.
    auto result = std::make_shared<Result<Json>>(Error(Errc::internal, "unset"));
    executor.post_blocking(
        [impl, arguments = std::move(arguments), context = std::move(context), result] {
          try {
            *result = impl->function(arguments, context);
          } catch (const Error& e) {
            *result = e;
          } catch (const std::exception& e) {
            *result = Error(Errc::tool, impl->spec.name + ": " + e.what());
          } catch (...) {
            *result = Error(Errc::tool, impl->spec.name + ": failed");
          }
        },
        [done = std::move(done), result] { done(std::move(*result)); });
    return;
  }
  // A host's asynchronous handler: `done` runs once, whatever the handler does.
  auto once = std::make_shared<std::atomic<bool>>(false);
  Callback<Json> guarded = [once, done](Result<Json> result) {
    if (!once->exchange(true)) done(std::move(result));
  };
  try {
    impl->async_function(std::move(arguments), std::move(context), guarded);
  } catch (const Error& e) {
    executor.post([guarded, e] { guarded(e); });
  } catch (const std::exception& e) {
    Error error(Errc::tool, impl->spec.name + ": " + e.what());
    executor.post([guarded, error] { guarded(error); });
  } catch (...) {
    Error error(Errc::tool, impl->spec.name + ": failed");
    executor.post([guarded, error] { guarded(error); });
  }
}

Json Tool::call(const Json& arguments, ToolContext context, Executor& executor) const {
  if (executor.running_in_this_thread()) {
    throw Error(Errc::invalid_argument,
                "Tool::call() from one of the executor's threads would wait on itself; use call_async()");
  }
  std::promise<Result<Json>> promise;
  auto future = promise.get_future();
  call_async(arguments, std::move(context),
             [&promise](Result<Json> result) { promise.set_value(std::move(result)); }, executor);
  return future.get().value();
}

// ---- registry --------------------------------------------------------------------------------

void ToolRegistry::add(Tool tool) {
  if (find(tool.name())) {
    throw Error(Errc::invalid_argument, "tool registry: \"" + tool.name() + "\" is already there");
  }
  tools_.push_back(std::move(tool));
}

bool ToolRegistry::remove(std::string_view name) {
  for (auto it = tools_.begin(); it != tools_.end(); ++it) {
    if (it->name() == name) {
      tools_.erase(it);
      return true;
    }
  }
  return false;
}

const Tool* ToolRegistry::find(std::string_view name) const {
  for (const auto& tool : tools_) {
    if (tool.name() == name) return &tool;
  }
  return nullptr;
}

std::vector<ToolSpec> ToolRegistry::specs() const {
  std::vector<ToolSpec> out;
  out.reserve(tools_.size());
  for (const auto& tool : tools_)
    out.push_back(tool.spec());
  return out;
}

ToolRegistry ToolRegistry::from_json(const Json& json) {
  ConfigReader root(json);
  ToolRegistry registry;
  for (auto& entry : root.objects("tools")) {
    Tool tool = Tool::from_json(entry.json(), entry.path());
    if (registry.find(tool.name())) {
      throw Error(Errc::invalid_config,
                  entry.path_of("name") + ": \"" + tool.name() + "\" is listed twice");
    }
    registry.add(std::move(tool));
  }
  root.finish();
  return registry;
}

ToolRegistry ToolRegistry::load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(Errc::io, "cannot read tools file " + path);
  std::stringstream text;
  text << file.rdbuf();
  Json json = Json::parse(text.str(), nullptr, false);
  if (json.is_discarded()) throw Error(Errc::parse, path + ": not JSON");
  try {
    return from_json(json);
  } catch (const Error& e) {
    throw Error(e.code(), path + ": " + e.what());
  }
}

}  // namespace keel
