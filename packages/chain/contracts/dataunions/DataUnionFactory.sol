// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {DataUnion} from "./DataUnion.sol";
import {IDataUnionFactory} from "./IDataUnion.sol";

/// @title Runnel Data Union factory
/// @notice Creates Data Unions as cheap clones of one implementation, so every union runs the same code and the
///         marketplace can tell a union from any other beneficiary.
contract DataUnionFactory is IDataUnionFactory {
    address public immutable implementation;

    mapping(address => bool) public isDataUnion;
    address[] private _unions;

    event DataUnionCreated(
        address indexed dataUnion, address indexed admin, address indexed token, uint16 adminFeeBps, string metadata
    );

    constructor(address implementation_) {
        implementation = implementation_;
    }

    /// @notice Creates a union administered by the caller, sharing revenue in `token` after `adminFeeBps` (basis
    ///         points) for the admin. `joinAgents` may add and part members (the admin may too).
    function createDataUnion(address token, uint16 adminFeeBps, address[] calldata joinAgents, string calldata metadata)
        external
        returns (address dataUnion)
    {
        dataUnion = Clones.clone(implementation);
        DataUnion(dataUnion).initialize(token, msg.sender, adminFeeBps, joinAgents, metadata);
        isDataUnion[dataUnion] = true;
        _unions.push(dataUnion);
        emit DataUnionCreated(dataUnion, msg.sender, token, adminFeeBps, metadata);
    }

    function dataUnionCount() external view returns (uint256) {
        return _unions.length;
    }

    function dataUnionAt(uint256 index) external view returns (address) {
        return _unions[index];
    }
}
