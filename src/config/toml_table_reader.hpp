// Reading TOML tables into config fields, shared by pool files (pool_config_file.cpp) and the
// daemon's file (daemon/daemon_config.cpp). Every key is checked: a key no one read is an
// error, not a default silently kept. A mistake does not stop the reading: each is recorded in
// the Document, with its key path and place, so that a file's errors are all reported at once.
//
//   config::Document document{"pools.toml", "/etc/securechannel"};
//   config::TableReader reader(table, "pool[0].", document);
//   reader.integer("max_connections", config.max_connections, 1);
//   reader.duration("connect_timeout", config.connect_timeout);
//   reader.finish();                               // unknown keys
//   document.throw_if_failed();                    // ConfigErrors listing every mistake
#pragma once

#include "securechannel/pool_config.hpp"
#include "securechannel/pool_config_file.hpp"
#include "securechannel/secure_buffer.hpp"

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace securechannel::config {

// "a string", "an integer", ...: for "must be X, not Y" messages.
std::string_view type_name(toml::node_type type);

// Where the problems of one document are collected, and how its relative paths are resolved.
// Values that came from the environment (environment_overrides.hpp) are parsed with a source
// path "env:NAME", and their problems name the variable instead of a line.
class Document {
 public:
  Document(std::string source_name, std::filesystem::path base_directory)
      : source_name_(std::move(source_name)), base_directory_(std::move(base_directory)) {}

  // Throws a ConfigError for `field`, with the place of `where` at the end of its message.
  [[noreturn]] void fail(const std::string& field, const std::string& problem, const toml::source_region& where) const;
  // Records a ConfigError without throwing.
  void record(const ConfigError& error) { errors_.push_back(error); }
  void record(const std::string& field, const std::string& problem, const toml::source_region& where);
  // Runs `read`; a ConfigError it throws is recorded and reading goes on.
  template <typename Read>
  void collect(Read&& read) {
    try {
      read();
    } catch (const ConfigError& error) {
      record(error);
    }
  }

  bool failed() const noexcept { return !errors_.empty(); }
  const std::vector<ConfigError>& errors() const noexcept { return errors_; }
  // Throws ConfigErrors with every recorded problem, in the order found; nothing when none.
  void throw_if_failed() const;

  const std::string& source_name() const noexcept { return source_name_; }
  // A file name as written; a relative one is taken from the document's folder.
  std::string resolve(const std::string& name) const;

 private:
  std::string place(const toml::source_region& where) const;

  std::string source_name_;
  std::filesystem::path base_directory_;
  std::vector<ConfigError> errors_;
};

// Reads the keys of one table into config fields, remembering which it read so that finish()
// can report the rest. Each reading method records its own mistake in the document and leaves
// `out` as it was.
class TableReader {
 public:
  TableReader(toml::table& table, std::string prefix, Document& document)
      : table_(table), prefix_(std::move(prefix)), document_(document) {}

  template <typename Integer>
  void integer(std::string_view key, Integer& out, std::int64_t minimum = 0,
               std::int64_t maximum = std::numeric_limits<std::int64_t>::max()) {
    document_.collect([&] {
      toml::node* node = take(key);
      if (node == nullptr) return;
      const auto* value = node->as_integer();
      if (value == nullptr) wrong_type(key, *node, "an integer");
      const std::int64_t number = value->get();
      constexpr auto widest = static_cast<std::uint64_t>(std::numeric_limits<Integer>::max());
      const std::int64_t top =
          widest > static_cast<std::uint64_t>(maximum) ? maximum : static_cast<std::int64_t>(widest);
      if (number < minimum || number > top) {
        fail(key, *node, "must be from " + std::to_string(minimum) + " to " + std::to_string(top) + ", not " +
                             std::to_string(number));
      }
      out = static_cast<Integer>(number);
    });
  }

  void flag(std::string_view key, bool& out);
  // A number from 0 to 1 (an integer 0 or 1 is accepted too).
  void fraction(std::string_view key, double& out);
  void text(std::string_view key, std::string& out);
  // A file name; a relative one is taken from the config file's folder, not the working
  // directory, so a config and the certificates beside it can move together.
  void path(std::string_view key, std::string& out);
  // "250ms", "5s", "1m30s"; a bare number is refused (it has no unit).
  void duration(std::string_view key, Milliseconds& out);
  void texts(std::string_view key, std::vector<std::string>& out);
  // The secret is read from the named file into locked memory; the file name stays in no config.
  void secret_file(std::string_view key, SharedSecret& out);
  // `key` would hold a secret in the config text itself. Its bytes are wiped from the parsed
  // document before the refusal, which points at `file_key`.
  void refuse_inline_secret(std::string_view key, std::string_view file_key);
  // `key` must not be in this table; `problem` says what to write instead.
  void refuse(std::string_view key, const std::string& problem);

  // One of `choices`, by its name in the file.
  template <typename Value>
  void choice(std::string_view key, Value& out, std::initializer_list<std::pair<std::string_view, Value>> choices) {
    document_.collect([&] {
      toml::node* node = take(key);
      if (node == nullptr) return;
      const std::string& name = string_of(key, *node);
      std::string names;
      for (const auto& [choice_name, value] : choices) {
        if (choice_name == name) {
          out = value;
          return;
        }
        names += (names.empty() ? "\"" : ", \"") + std::string(choice_name) + "\"";
      }
      fail(key, *node, "'" + name + "' is not one of " + names);
    });
  }

  // The sub-table `key`, or nullptr when absent (or not a table: recorded as "must be
  // `expected`", for a key that may also hold something else).
  toml::table* table(std::string_view key, std::string_view expected = "a table");
  // The array of tables `key` ([[pool.listener]]), or nullptr when absent (or not one: recorded).
  toml::array* tables(std::string_view key);
  bool has(std::string_view key) const { return table_.contains(key); }
  // Records every key not read by now as unknown.
  void finish();

  [[noreturn]] void fail(std::string_view key, const toml::node& node, const std::string& problem) const {
    document_.fail(prefix_ + std::string(key), problem, node.source());
  }
  const std::string& prefix() const noexcept { return prefix_; }
  Document& document() noexcept { return document_; }
  const toml::table& source() const noexcept { return table_; }

 private:
  toml::node* take(std::string_view key) {
    read_.emplace(key);
    return table_.get(key);
  }
  const std::string& string_of(std::string_view key, toml::node& node) const;
  [[noreturn]] void wrong_type(std::string_view key, const toml::node& node, std::string_view expected) const;

  toml::table& table_;
  std::string prefix_;
  Document& document_;
  std::set<std::string, std::less<>> read_;
};

}  // namespace securechannel::config
