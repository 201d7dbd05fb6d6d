// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Stream metadata validation
/// @notice Metadata is a JSON object of at most MAX_LENGTH bytes. Its top-level "partitions", if present, is an
///         integer 1..100; "storageDays", if present, a non-negative integer. Other keys are kept as they are.
/// @dev A small recursive-descent JSON syntax checker: strings (with escapes), numbers, literals, arrays and objects
///      nested at most MAX_DEPTH deep. It checks syntax, not Unicode validity of strings.
library MetadataValidator {
    uint256 internal constant MAX_LENGTH = 10_000;
    uint256 internal constant MAX_DEPTH = 8;
    uint256 internal constant MAX_PARTITIONS = 100;

    error InvalidMetadata(string reason, uint256 position);

    function validate(bytes memory json) internal pure {
        if (json.length == 0 || json.length > MAX_LENGTH) revert InvalidMetadata("length must be 1..10000 bytes", 0);
        uint256 i = _skipSpace(json, 0);
        if (i >= json.length || json[i] != "{") revert InvalidMetadata("must be a JSON object", i);
        i = _object(json, i, 0, true);
        i = _skipSpace(json, i);
        if (i != json.length) revert InvalidMetadata("unexpected data after the object", i);
    }

    function _value(bytes memory s, uint256 i, uint256 depth) private pure returns (uint256) {
        i = _skipSpace(s, i);
        if (i >= s.length) revert InvalidMetadata("unexpected end", i);
        bytes1 c = s[i];
        if (c == "{") return _object(s, i, depth + 1, false);
        if (c == "[") return _array(s, i, depth + 1);
        if (c == '"') return _string(s, i);
        if (c == "t") return _literal(s, i, "true");
        if (c == "f") return _literal(s, i, "false");
        if (c == "n") return _literal(s, i, "null");
        (i,) = _number(s, i);
        return i;
    }

    function _object(bytes memory s, uint256 i, uint256 depth, bool topLevel) private pure returns (uint256) {
        if (depth > MAX_DEPTH) revert InvalidMetadata("nested too deep", i);
        i = _skipSpace(s, i + 1);
        if (i < s.length && s[i] == "}") return i + 1;
        while (true) {
            i = _skipSpace(s, i);
            if (i >= s.length || s[i] != '"') revert InvalidMetadata("expected a key", i);
            uint256 keyStart = i + 1;
            i = _string(s, i);
            bytes32 key = keccak256(_slice(s, keyStart, i - 1));
            i = _skipSpace(s, i);
            if (i >= s.length || s[i] != ":") revert InvalidMetadata("expected :", i);
            if (topLevel && (key == keccak256("partitions") || key == keccak256("storageDays"))) {
                i = _skipSpace(s, i + 1);
                uint256 start = i;
                bool integer;
                (i, integer) = _number(s, i);
                if (!integer) revert InvalidMetadata("partitions and storageDays must be non-negative integers", start);
                if (key == keccak256("partitions")) {
                    if (i - start > 3) revert InvalidMetadata("partitions must be 1..100", start);
                    uint256 n = _parseUint(s, start, i);
                    if (n < 1 || n > MAX_PARTITIONS) revert InvalidMetadata("partitions must be 1..100", start);
                }
            } else {
                i = _value(s, i + 1, depth);
            }
            i = _skipSpace(s, i);
            if (i >= s.length) revert InvalidMetadata("unexpected end", i);
            if (s[i] == "}") return i + 1;
            if (s[i] != ",") revert InvalidMetadata("expected , or }", i);
            i++;
        }
        return i;
    }

    function _array(bytes memory s, uint256 i, uint256 depth) private pure returns (uint256) {
        if (depth > MAX_DEPTH) revert InvalidMetadata("nested too deep", i);
        i = _skipSpace(s, i + 1);
        if (i < s.length && s[i] == "]") return i + 1;
        while (true) {
            i = _skipSpace(s, _value(s, i, depth));
            if (i >= s.length) revert InvalidMetadata("unexpected end", i);
            if (s[i] == "]") return i + 1;
            if (s[i] != ",") revert InvalidMetadata("expected , or ]", i);
            i++;
        }
        return i;
    }

    function _string(bytes memory s, uint256 i) private pure returns (uint256) {
        i++;
        while (i < s.length) {
            bytes1 c = s[i];
            if (c == '"') return i + 1;
            if (uint8(c) < 0x20) revert InvalidMetadata("control character in string", i);
            if (c == "\\") {
                i++;
                if (i >= s.length) break;
                bytes1 e = s[i];
                if (e == "u") {
                    if (i + 4 >= s.length) revert InvalidMetadata("bad \\u escape", i);
                    for (uint256 k = 1; k <= 4; k++) {
                        if (!_isHex(s[i + k])) revert InvalidMetadata("bad \\u escape", i);
                    }
                    i += 4;
                } else if (
                    e != '"' && e != "\\" && e != "/" && e != "b" && e != "f" && e != "n" && e != "r" && e != "t"
                ) {
                    revert InvalidMetadata("bad escape", i);
                }
            }
            i++;
        }
        revert InvalidMetadata("unterminated string", i);
    }

    /// @return end position after the number, and whether it was a plain non-negative integer
    function _number(bytes memory s, uint256 i) private pure returns (uint256, bool) {
        uint256 start = i;
        bool integer = true;
        if (i < s.length && s[i] == "-") {
            integer = false;
            i++;
        }
        uint256 digits = i;
        while (i < s.length && _isDigit(s[i])) i++;
        if (i == digits) revert InvalidMetadata("expected a value", start);
        if (i - digits > 1 && s[digits] == "0") revert InvalidMetadata("leading zero", start);
        if (i < s.length && s[i] == ".") {
            integer = false;
            uint256 fraction = ++i;
            while (i < s.length && _isDigit(s[i])) i++;
            if (i == fraction) revert InvalidMetadata("digits expected after .", i);
        }
        if (i < s.length && (s[i] == "e" || s[i] == "E")) {
            integer = false;
            i++;
            if (i < s.length && (s[i] == "+" || s[i] == "-")) i++;
            uint256 exponent = i;
            while (i < s.length && _isDigit(s[i])) i++;
            if (i == exponent) revert InvalidMetadata("digits expected in exponent", i);
        }
        return (i, integer);
    }

    function _literal(bytes memory s, uint256 i, bytes memory word) private pure returns (uint256) {
        if (i + word.length > s.length) revert InvalidMetadata("bad literal", i);
        for (uint256 k = 0; k < word.length; k++) {
            if (s[i + k] != word[k]) revert InvalidMetadata("bad literal", i);
        }
        return i + word.length;
    }

    function _skipSpace(bytes memory s, uint256 i) private pure returns (uint256) {
        while (i < s.length && (s[i] == " " || s[i] == "\n" || s[i] == "\r" || s[i] == "\t")) i++;
        return i;
    }

    function _slice(bytes memory s, uint256 start, uint256 end) private pure returns (bytes memory out) {
        out = new bytes(end - start);
        for (uint256 k = 0; k < out.length; k++) out[k] = s[start + k];
    }

    function _parseUint(bytes memory s, uint256 start, uint256 end) private pure returns (uint256 n) {
        for (uint256 k = start; k < end; k++) n = n * 10 + (uint8(s[k]) - 48);
    }

    function _isDigit(bytes1 c) private pure returns (bool) {
        return c >= "0" && c <= "9";
    }

    function _isHex(bytes1 c) private pure returns (bool) {
        return _isDigit(c) || (c >= "a" && c <= "f") || (c >= "A" && c <= "F");
    }
}
