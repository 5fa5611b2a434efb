//===- Lexer.h - splits .dl source into tokens ------------------*- C++ -*-===//
#ifndef DLC_FRONTEND_LEXER_H
#define DLC_FRONTEND_LEXER_H

#include "compiler/Frontend/Token.h"

#include <string_view>
#include <vector>

namespace dlc {

/// Turns source text into tokens. Newlines are tokens only outside ( ) and [ ]: a
/// statement continues across lines inside brackets. Lexical errors become Tok::Error
/// tokens carrying their message, so the parser reports them with all other errors.
std::vector<Token> lex(std::string_view src);

} // namespace dlc
#endif
