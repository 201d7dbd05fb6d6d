// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @dev What the incentive contracts ask of each other. Addresses are fixed at deployment (constructor arguments
///      computed from the deployer's nonces), so no contract has an owner who could rewire them later.
interface IStreamRegistryView {
    function exists(string calldata streamId) external view returns (bool);
}

interface IOperatorFactory {
    function isOperator(address operator) external view returns (bool);
}

interface ISponsorships {
    function stakeOf(uint256 sponsorshipId, address operator) external view returns (uint256);
    function lockedOf(uint256 sponsorshipId, address operator) external view returns (uint256);
    function totalStakeOf(address operator) external view returns (uint256);
    function pendingEarningsOf(address operator) external view returns (uint256);
    function reviewedEarningsOf(address operator) external view returns (uint256);
    function stakedOperatorCount() external view returns (uint256);
    function stakedOperatorAt(uint256 index) external view returns (address);
    function withdrawEarnings(uint256 sponsorshipId) external returns (uint256 earnings);
    function unstake(uint256 sponsorshipId) external returns (uint256 returnedStake, uint256 earnings);
    function sponsor(uint256 sponsorshipId, uint256 amount) external;
    // Only the vote-kick contract:
    function lockStake(uint256 sponsorshipId, address operator, uint256 amount) external;
    function unlockStake(uint256 sponsorshipId, address operator, uint256 amount) external;
    function setUnderReview(uint256 sponsorshipId, address operator, bool underReview) external;
    function slash(uint256 sponsorshipId, address operator, uint256 amount) external returns (uint256 slashed);
    function kick(uint256 sponsorshipId, address operator) external;
}

interface IVoteKick {
    function flag(uint256 sponsorshipId, address target, string calldata metadata) external returns (uint256 flagId);
    function vote(uint256 flagId, bool kick) external;
}
