// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What the marketplace needs of a Data Union: its revenue token, and a way to account a payment at once.
interface IRevenueSink {
    function token() external view returns (address);

    /// @notice Accounts every token received since the last call as revenue; returns the amount.
    function refreshRevenue() external returns (uint256);
}

interface IDataUnionFactory {
    function isDataUnion(address account) external view returns (bool);
}
