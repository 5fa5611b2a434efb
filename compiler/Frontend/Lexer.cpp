//===- Lexer.cpp - splits .dl source into tokens --------------------------===//
#include "compiler/Frontend/Lexer.h"

#include "llvm/Support/ConvertUTF.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <unordered_map>

namespace dlc {

const char *tokName(Tok t) {
  switch (t) {
  case Tok::Eof: return "end of file";
  case Tok::Newline: return "end of line";
  case Tok::Ident: return "a name";
  case Tok::Int: return "an integer";
  case Tok::Float: return "a number";
  case Tok::String: return "a string";
  case Tok::KwModel: return "'model'";
  case Tok::KwInput: return "'input'";
  case Tok::KwOutput: return "'output'";
  case Tok::KwConst: return "'const'";
  case Tok::KwFn: return "'fn'";
  case Tok::KwReturn: return "'return'";
  case Tok::KwRepeat: return "'repeat'";
  case Tok::KwTrain: return "'train'";
  case Tok::KwTrue: return "'true'";
  case Tok::KwFalse: return "'false'";
  case Tok::LParen: return "'('";
  case Tok::RParen: return "')'";
  case Tok::LBracket: return "'['";
  case Tok::RBracket: return "']'";
  case Tok::LBrace: return "'{'";
  case Tok::RBrace: return "'}'";
  case Tok::Comma: return "','";
  case Tok::Colon: return "':'";
  case Tok::Semi: return "';'";
  case Tok::Assign: return "'='";
  case Tok::Plus: return "'+'";
  case Tok::Minus: return "'-'";
  case Tok::Star: return "'*'";
  case Tok::Slash: return "'/'";
  case Tok::At: return "'@'";
  case Tok::Pipe: return "'|>'";
  case Tok::Error: return "an invalid token";
  }
  return "?";
}

std::vector<Token> lex(std::string_view src) {
  static const std::unordered_map<std::string_view, Tok> keywords = {
      {"model", Tok::KwModel},   {"input", Tok::KwInput}, {"output", Tok::KwOutput},
      {"const", Tok::KwConst},   {"fn", Tok::KwFn},       {"return", Tok::KwReturn},
      {"repeat", Tok::KwRepeat}, {"train", Tok::KwTrain}, {"true", Tok::KwTrue},
      {"false", Tok::KwFalse}};
  std::vector<Token> out;
  size_t i = 0;
  unsigned line = 1, col = 1;
  int depth = 0; // ( and [ nesting: newlines inside do not end statements
  auto advance = [&](size_t n) {
    for (size_t k = 0; k < n && i < src.size(); ++k, ++i) {
      if (src[i] == '\n') { ++line; col = 1; }
      else if ((static_cast<unsigned char>(src[i]) & 0xC0) != 0x80) ++col; // count UTF-8 code points
    }
  };
  auto push = [&](Tok k, std::string text, SrcLoc loc) {
    Token t;
    t.kind = k;
    t.text = std::move(text);
    t.loc = loc;
    out.push_back(std::move(t));
  };
  while (i < src.size()) {
    char c = src[i];
    SrcLoc loc{line, col};
    if (c == '#') {
      while (i < src.size() && src[i] != '\n') advance(1);
      continue;
    }
    if (c == '\n') {
      if (depth == 0 && (out.empty() || out.back().kind != Tok::Newline))
        push(Tok::Newline, "\n", loc);
      advance(1);
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') { advance(1); continue; }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < src.size() && (std::isalnum(static_cast<unsigned char>(src[j])) || src[j] == '_')) ++j;
      std::string_view word = src.substr(i, j - i);
      auto kw = keywords.find(word);
      push(kw == keywords.end() ? Tok::Ident : kw->second, std::string(word), loc);
      advance(j - i);
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && i + 1 < src.size() && std::isdigit(static_cast<unsigned char>(src[i + 1])))) {
      size_t j = i;
      bool isFloat = false;
      while (j < src.size() && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
      if (j < src.size() && src[j] == '.') {
        isFloat = true;
        ++j;
        while (j < src.size() && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
      }
      if (j < src.size() && (src[j] == 'e' || src[j] == 'E')) {
        size_t k = j + 1;
        if (k < src.size() && (src[k] == '+' || src[k] == '-')) ++k;
        if (k < src.size() && std::isdigit(static_cast<unsigned char>(src[k]))) {
          isFloat = true;
          j = k;
          while (j < src.size() && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
        }
      }
      std::string text(src.substr(i, j - i));
      Token t;
      t.loc = loc;
      t.text = text;
      errno = 0;
      if (isFloat) {
        t.kind = Tok::Float;
        t.floatValue = std::strtod(text.c_str(), nullptr);
      } else {
        t.kind = Tok::Int;
        t.intValue = std::strtoll(text.c_str(), nullptr, 10);
        if (errno == ERANGE) { t.kind = Tok::Error; t.text = "integer literal '" + text + "' is too large"; }
      }
      out.push_back(std::move(t));
      advance(j - i);
      continue;
    }
    if (c == '"') {
      size_t j = i + 1;
      std::string value;
      while (j < src.size() && src[j] != '"' && src[j] != '\n') {
        if (src[j] == '\\' && j + 1 < src.size()) { value += src[j + 1]; j += 2; continue; }
        value += src[j++];
      }
      if (j >= src.size() || src[j] != '"') {
        push(Tok::Error, "unterminated string: expected a closing '\"' on the same line", loc);
        advance(j - i);
        continue;
      }
      // Strings become names in model.so's JSON signature and in messages: UTF-8 only.
      const auto *begin = reinterpret_cast<const llvm::UTF8 *>(value.data());
      if (!llvm::isLegalUTF8String(&begin, begin + value.size())) {
        push(Tok::Error, "string literal is not valid UTF-8", loc);
        advance(j + 1 - i);
        continue;
      }
      push(Tok::String, value, loc);
      advance(j + 1 - i);
      continue;
    }
    if (c == '|' && i + 1 < src.size() && src[i + 1] == '>') {
      push(Tok::Pipe, "|>", loc);
      advance(2);
      continue;
    }
    Tok k = Tok::Error;
    switch (c) {
    case '(': k = Tok::LParen; ++depth; break;
    case ')': k = Tok::RParen; if (depth > 0) --depth; break;
    case '[': k = Tok::LBracket; ++depth; break;
    case ']': k = Tok::RBracket; if (depth > 0) --depth; break;
    case '{': k = Tok::LBrace; break;
    case '}': k = Tok::RBrace; break;
    case ',': k = Tok::Comma; break;
    case ':': k = Tok::Colon; break;
    case ';': k = Tok::Semi; break;
    case '=': k = Tok::Assign; break;
    case '+': k = Tok::Plus; break;
    case '-': k = Tok::Minus; break;
    case '*': k = Tok::Star; break;
    case '/': k = Tok::Slash; break;
    case '@': k = Tok::At; break;
    default: break;
    }
    if (k == Tok::Error) {
      unsigned char uc = static_cast<unsigned char>(c);
      size_t len = uc < 0x80 ? 1 : (uc >> 5) == 6 ? 2 : (uc >> 4) == 14 ? 3 : 4;
      push(Tok::Error, "unexpected character '" + std::string(src.substr(i, len)) + "'", loc);
      advance(len);
      continue;
    }
    push(k, std::string(1, c), loc);
    advance(1);
  }
  if (out.empty() || out.back().kind != Tok::Newline) push(Tok::Newline, "\n", SrcLoc{line, col});
  push(Tok::Eof, "", SrcLoc{line, col});
  return out;
}

} // namespace dlc
