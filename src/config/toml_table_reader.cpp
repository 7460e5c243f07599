#include "config/toml_table_reader.hpp"

#include "config/duration_text.hpp"

namespace securechannel::config {

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::none: return "nothing";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
  }
  return "an unknown TOML type";
}

std::string Document::place(const toml::source_region& where) const {
  if (where.path && where.path->starts_with("env:")) return "(environment variable " + where.path->substr(4) + ")";
  return "(" + source_name_ + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column) + ")";
}

void Document::fail(const std::string& field, const std::string& problem, const toml::source_region& where) const {
  throw ConfigError(field, problem + " " + place(where));
}

void Document::record(const std::string& field, const std::string& problem, const toml::source_region& where) {
  // TOML allows an empty key (`"" = 1`, `[""]`); name it as the file spells it, so that every
  // error still names a field.
  errors_.emplace_back(field.empty() ? std::string("\"\"") : field, problem + " " + place(where));
}

void Document::throw_if_failed() const {
  if (!errors_.empty()) throw ConfigErrors(errors_);
}

std::string Document::resolve(const std::string& name) const {
  const std::filesystem::path given(name);
  return given.is_absolute() ? name : (base_directory_ / given).lexically_normal().string();
}

void TableReader::flag(std::string_view key, bool& out) {
  document_.collect([&] {
    toml::node* node = take(key);
    if (node == nullptr) return;
    const auto* value = node->as_boolean();
    if (value == nullptr) wrong_type(key, *node, "true or false");
    out = value->get();
  });
}

void TableReader::fraction(std::string_view key, double& out) {
  document_.collect([&] {
    toml::node* node = take(key);
    if (node == nullptr) return;
    double number = 0;
    if (const auto* floating = node->as_floating_point()) {
      number = floating->get();
    } else if (const auto* integer = node->as_integer()) {
      number = static_cast<double>(integer->get());
    } else {
      wrong_type(key, *node, "a number");
    }
    if (!(number >= 0 && number <= 1)) {
      fail(key, *node, "must be a fraction from 0 to 1, not " + std::to_string(number));
    }
    out = number;
  });
}

void TableReader::text(std::string_view key, std::string& out) {
  document_.collect([&] {
    toml::node* node = take(key);
    if (node != nullptr) out = string_of(key, *node);
  });
}

void TableReader::path(std::string_view key, std::string& out) {
  document_.collect([&] {
    toml::node* node = take(key);
    if (node == nullptr) return;
    const std::string& name = string_of(key, *node);
    if (name.empty()) fail(key, *node, "must not be empty (leave the key out instead)");
    out = document_.resolve(name);
  });
}

void TableReader::duration(std::string_view key, Milliseconds& out) {
  document_.collect([&] {
    toml::node* node = take(key);
    if (node == nullptr) return;
    if (node->is_integer()) {
      const std::string number = std::to_string(node->as_integer()->get());
      fail(key, *node, "needs a unit: write \"" + number + "ms\" or \"" + number + "s\"");
    }
    std::string problem;
    const auto parsed = detail::parse_duration(string_of(key, *node), problem);
    if (!parsed) fail(key, *node, problem);
    out = *parsed;
  });
}

void TableReader::texts(std::string_view key, std::vector<std::string>& out) {
  document_.collect([&] {
    toml::node* node = take(key);
    if (node == nullptr) return;
    toml::array* array = node->as_array();
    if (array == nullptr) wrong_type(key, *node, "an array of strings");
    std::vector<std::string> values;
    for (std::size_t i = 0; i < array->size(); ++i) {
      toml::node& element = *array->get(i);
      const std::string element_key = std::string(key) + "[" + std::to_string(i) + "]";
      if (!element.is_string()) wrong_type(element_key, element, "a string");
      values.push_back(element.as_string()->get());
    }
    out = std::move(values);
  });
}

void TableReader::secret_file(std::string_view key, SharedSecret& out) {
  std::string file;
  path(key, file);
  if (file.empty()) return;
  document_.collect([&] {
    std::string error;
    SharedSecret secret = read_secret_file(file, error);
    if (!secret) fail(key, *table_.get(key), error);
    out = std::move(secret);
  });
}

void TableReader::refuse_inline_secret(std::string_view key, std::string_view file_key) {
  document_.collect([&] {
    toml::node* node = take(key);
    if (node == nullptr) return;
    if (auto* value = node->as_string()) secure_wipe(value->get());
    fail(key, *node,
         "secrets are not written in the config file: put it in a file readable only by this service "
         "and name that file in " + prefix_ + std::string(file_key));
  });
}

void TableReader::refuse(std::string_view key, const std::string& problem) {
  document_.collect([&] {
    toml::node* node = take(key);
    if (node != nullptr) fail(key, *node, problem);
  });
}

toml::table* TableReader::table(std::string_view key, std::string_view expected) {
  toml::table* found = nullptr;
  document_.collect([&] {
    toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_table()) wrong_type(key, *node, expected);
    found = node->as_table();
  });
  return found;
}

toml::array* TableReader::tables(std::string_view key) {
  toml::array* found = nullptr;
  document_.collect([&] {
    toml::node* node = take(key);
    if (node == nullptr) return;
    toml::array* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      fail(key, *node, "must be an array of tables: write each entry as a [[...]] table");
    }
    found = array;
  });
  return found;
}

void TableReader::finish() {
  for (auto&& [key, node] : table_) {
    if (read_.contains(std::string(key.str()))) continue;
    // A key set from the environment has no place of its own; its value names the variable.
    const toml::source_region& where = key.source().begin.line != 0 ? key.source() : node.source();
    document_.record(prefix_ + std::string(key.str()), "unknown key", where);
  }
}

const std::string& TableReader::string_of(std::string_view key, toml::node& node) const {
  if (!node.is_string()) wrong_type(key, node, "a string");
  return node.as_string()->get();
}

void TableReader::wrong_type(std::string_view key, const toml::node& node, std::string_view expected) const {
  fail(key, node, "must be " + std::string(expected) + ", not " + std::string(type_name(node.type())));
}

}  // namespace securechannel::config
