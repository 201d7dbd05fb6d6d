// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title A minimal ERC-1271 smart-contract wallet, for tests and as an example
/// @notice Accepts a signature over a hash when it is its owner's 65-byte ECDSA signature (low s) of that hash.
///         Changing the owner revokes what the old owner signed. Real wallets (Safe, account-abstraction wallets)
///         apply their own rules behind the same isValidSignature.
contract ExampleErc1271Wallet {
    /// @dev bytes4(keccak256("isValidSignature(bytes32,bytes)")): what ERC-1271 returns for a valid signature.
    bytes4 internal constant MAGIC_VALUE = 0x1626ba7e;
    bytes4 internal constant INVALID = 0xffffffff;
    /// @dev secp256k1's n/2: a higher s is the malleable twin of a valid signature.
    uint256 internal constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    address public owner;

    event OwnerChanged(address owner);

    error NotOwner(address caller);

    constructor(address initialOwner) {
        owner = initialOwner;
    }

    function setOwner(address newOwner) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        owner = newOwner;
        emit OwnerChanged(newOwner);
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) return INVALID;
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_CURVE_ORDER) return INVALID;
        address signer = ecrecover(hash, v, r, s);
        return signer != address(0) && signer == owner ? MAGIC_VALUE : INVALID;
    }
}
