//===- Token.h - tokens of the .dl language ---------------------*- C++ -*-===//
#ifndef DLC_FRONTEND_TOKEN_H
#define DLC_FRONTEND_TOKEN_H

#include "compiler/Basic/SourceLocation.h"

#include <cstdint>
#include <string>

namespace dlc {

enum class Tok {
  Eof, Newline, Ident, Int, Float, String,
  // keywords
  KwModel, KwInput, KwOutput, KwConst, KwFn, KwReturn, KwRepeat, KwTrain, KwTrue, KwFalse,
  // punctuation
  LParen, RParen, LBracket, RBracket, LBrace, RBrace, Comma, Colon, Semi, Assign,
  Plus, Minus, Star, Slash, At, Pipe,
  Error,
};

struct Token {
  Tok kind = Tok::Eof;
  std::string text; // identifier name, literal spelling, or the error message
  SrcLoc loc;
  int64_t intValue = 0;
  double floatValue = 0;
};

/// How a token kind is named in "expected X" messages.
const char *tokName(Tok t);

} // namespace dlc
#endif
