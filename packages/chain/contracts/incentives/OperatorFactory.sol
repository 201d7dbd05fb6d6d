// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IOperatorFactory} from "./IIncentives.sol";
import {Operator} from "./Operator.sol";

/// @title Runnel operator factory
/// @notice Creates operator contracts (one per owner address) as cheap clones of one implementation. Only operators
///         made here may stake on sponsorships, flag and review, so every stake runs the same audited code.
contract OperatorFactory is IOperatorFactory {
    address public immutable implementation;

    mapping(address => bool) public isOperator;
    mapping(address => address) public operatorOf;
    address[] private _operators;

    event OperatorCreated(address indexed owner, address indexed operator, uint16 cutBps, string metadata);

    error OperatorExists(address owner, address operator);

    constructor(address implementation_) {
        implementation = implementation_;
    }

    /// @notice Creates the caller's operator, taking `cutBps` (basis points) of the earnings its nodes collect.
    function createOperator(uint16 cutBps, string calldata metadata) external returns (address operator) {
        address existing = operatorOf[msg.sender];
        if (existing != address(0)) revert OperatorExists(msg.sender, existing);
        operator = Clones.clone(implementation);
        Operator(operator).initialize(msg.sender, cutBps, metadata);
        isOperator[operator] = true;
        operatorOf[msg.sender] = operator;
        _operators.push(operator);
        emit OperatorCreated(msg.sender, operator, cutBps, metadata);
    }

    function operatorCount() external view returns (uint256) {
        return _operators.length;
    }

    function operatorAt(uint256 index) external view returns (address) {
        return _operators[index];
    }
}
