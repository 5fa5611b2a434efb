#include "compiler/Frontend/Lexer.h"

#include <catch2/catch.hpp>

using namespace dlc;

static std::vector<Tok> kinds(const std::string &src) {
  std::vector<Tok> out;
  for (const Token &t : lex(src)) out.push_back(t.kind);
  return out;
}

TEST_CASE("lexer: keywords, names, numbers, pipes") {
  auto toks = lex("model M { h = dense(x, 1e-3) |> relu }");
  REQUIRE(toks[0].kind == Tok::KwModel);
  REQUIRE(toks[1].kind == Tok::Ident);
  REQUIRE(toks[1].text == "M");
  REQUIRE(toks[9].kind == Tok::Float);
  REQUIRE(toks[9].floatValue == Approx(1e-3));
  REQUIRE(toks[11].kind == Tok::Pipe);
  REQUIRE(toks[1].loc.line == 1);
  REQUIRE(toks[1].loc.col == 7);
}

TEST_CASE("lexer: newlines end statements only outside brackets") {
  auto k = kinds("a = f(x,\n y)\nb = 1\n");
  int newlines = 0;
  for (Tok t : k) newlines += t == Tok::Newline;
  REQUIRE(newlines == 2);
}

TEST_CASE("lexer: comments, integers, strings, locations") {
  auto toks = lex("# comment\nx = 42 # more\ns = \"same\"");
  REQUIRE(toks[0].kind == Tok::Newline);
  REQUIRE(toks[1].text == "x");
  REQUIRE(toks[1].loc.line == 2);
  REQUIRE(toks[3].kind == Tok::Int);
  REQUIRE(toks[3].intValue == 42);
  REQUIRE(toks[7].kind == Tok::String);
  REQUIRE(toks[7].text == "same");
}

TEST_CASE("lexer: errors become error tokens with a message") {
  auto toks = lex("x = $");
  REQUIRE(toks[2].kind == Tok::Error);
  REQUIRE(toks[2].text.find("unexpected character '$'") != std::string::npos);
  auto s = lex("s = \"open");
  REQUIRE(s[2].kind == Tok::Error);
  auto big = lex("n = 99999999999999999999999");
  REQUIRE(big[2].kind == Tok::Error);
  REQUIRE(big[2].text.find("too large") != std::string::npos);
}

TEST_CASE("lexer: a string literal must be UTF-8 (found by fuzzing: it reached the JSON signature)") {
  auto bad = lex("a = f(x, name = \"\xff\xfe" "enc\")");
  bool error = false;
  for (const Token &t : bad) error |= t.kind == Tok::Error && t.text == "string literal is not valid UTF-8";
  REQUIRE(error);
  auto good = lex("a = f(x, name = \"\xc3\xa9t\xc3\xa9\")");
  bool string = false;
  for (const Token &t : good) string |= t.kind == Tok::String && t.text == "\xc3\xa9t\xc3\xa9";
  REQUIRE(string);
}
