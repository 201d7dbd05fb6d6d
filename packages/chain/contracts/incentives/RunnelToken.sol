// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC1363} from "@openzeppelin/contracts/token/ERC20/extensions/ERC1363.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title The Runnel network token (RNL)
/// @notice ERC-20 with ERC-1363 `transferAndCall` (the standardised successor of ERC-677), so sponsoring, staking and
///         delegating are one transaction each, and ERC-2612 `permit` for wallets that prefer signatures.
/// @dev The owner mints; on a public chain it would be a fixed-supply or governance-minted token instead.
contract RunnelToken is ERC1363, ERC20Permit, Ownable {
    constructor(address owner) ERC20("Runnel", "RNL") ERC20Permit("Runnel") Ownable(owner) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
