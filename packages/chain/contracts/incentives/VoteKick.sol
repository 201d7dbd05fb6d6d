// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ISponsorships, IVoteKick, IOperatorFactory} from "./IIncentives.sol";

/// @title Runnel flagging and vote-kick
/// @notice An operator staked on a sponsorship flags another one as not serving the stream. A few reviewers, picked
///         among the other staked operators, inspect it and vote. A kick majority slashes the flagged operator and
///         removes it; a keep majority slashes the flagger's flag stake instead. Reviewers on the winning side are paid
///         from the slashed tokens; the rest goes back to the sponsorship's funds.
/// @dev Reviewers are picked in a later transaction than the flag, from the hash of the flag's own block, preferring
///      operators not staked on the same sponsorship (they would gain from a kick). Picked in the flag's transaction,
///      a flagger whose node is a contract could read the pick and revert until it suited it; a committed flag can't
///      be taken back, and its block's hash is unknown while it is sent. The proposer of that block can still bias the
///      hash by withholding the block; a public deployment could use a VRF. docs/tokenomics.md discusses the bias.
contract VoteKick is IVoteKick, ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Open,
        Kicked,
        FalseFlag,
        Inconclusive
    }

    enum Ballot {
        None,
        Pending,
        Kick,
        Keep
    }

    struct Flag {
        uint256 sponsorshipId;
        address flagger;
        address target;
        uint64 flaggedAt;
        /// The block whose hash seeds the reviewer pick: the flag's own, unknown while the flag is being sent.
        uint64 pickBlock;
        /// When voting ends: set when the reviewers are picked, 0 before.
        uint64 deadline;
        uint8 reviewerCount;
        uint8 kickVotes;
        uint8 keepVotes;
        Status status;
    }

    struct Params {
        /// Locked from the flagger's stake while the flag is open; slashed for a false flag.
        uint256 flagStake;
        /// Share of the flagged operator's stake slashed on a kick, in basis points.
        uint16 slashBps;
        /// How many reviewers a flag asks (fewer if fewer operators are staked).
        uint8 reviewerCount;
        /// After this many seconds anyone may conclude the flag on the votes cast.
        uint64 votingPeriod;
        /// Paid to each reviewer on the winning side.
        uint256 reviewerReward;
        /// Paid to the flagger when the flagged operator is kicked.
        uint256 flaggerReward;
    }

    IERC20 public immutable token;
    ISponsorships public immutable sponsorships;
    IOperatorFactory public immutable operatorFactory;
    uint256 public immutable flagStake;
    uint16 public immutable slashBps;
    uint8 public immutable reviewerCount;
    uint64 public immutable votingPeriod;
    uint256 public immutable reviewerReward;
    uint256 public immutable flaggerReward;

    uint256 public flagCount;
    mapping(uint256 => Flag) private _flags;
    mapping(uint256 => address[]) private _reviewers;
    mapping(uint256 => mapping(address => Ballot)) public ballotOf;
    /// sponsorship id => flagged operator => open flag id (0 if none).
    mapping(uint256 => mapping(address => uint256)) public openFlagOn;

    event Flagged(
        uint256 indexed flagId, uint256 indexed sponsorshipId, address indexed target, address flagger, string metadata
    );
    event ReviewersPicked(uint256 indexed flagId, uint8 reviewerCount, uint64 deadline);
    event ReviewRequested(uint256 indexed flagId, address indexed reviewer, uint256 sponsorshipId, address target);
    event Voted(uint256 indexed flagId, address indexed reviewer, bool kick);
    event FlagResolved(uint256 indexed flagId, Status status, uint256 slashed, uint8 kickVotes, uint8 keepVotes);

    error NotAnOperator(address account);
    error NotStaked(uint256 sponsorshipId, address operator);
    error CannotFlagSelf(address operator);
    error AlreadyFlagged(uint256 sponsorshipId, address target, uint256 flagId);
    error NoReviewersAvailable(uint256 sponsorshipId);
    error FlagNotFound(uint256 flagId);
    error FlagNotOpen(uint256 flagId, Status status);
    error NotReviewer(uint256 flagId, address account);
    error AlreadyVoted(uint256 flagId, address reviewer);
    error VotingEnded(uint256 flagId, uint64 deadline);
    error VotingNotEnded(uint256 flagId, uint64 deadline);
    error PickTooEarly(uint256 flagId, uint64 fromBlock);
    error ReviewersAlreadyPicked(uint256 flagId);
    error ReviewersNotPicked(uint256 flagId);
    error InvalidParams(string reason);

    constructor(IERC20 token_, ISponsorships sponsorships_, IOperatorFactory operatorFactory_, Params memory params) {
        if (params.slashBps > 10_000) revert InvalidParams("slashBps above 10000");
        if (params.reviewerCount == 0 || params.reviewerCount > 15) revert InvalidParams("reviewerCount not in 1..15");
        if (params.flagStake == 0) revert InvalidParams("flagStake is zero");
        token = token_;
        sponsorships = sponsorships_;
        operatorFactory = operatorFactory_;
        flagStake = params.flagStake;
        slashBps = params.slashBps;
        reviewerCount = params.reviewerCount;
        votingPeriod = params.votingPeriod;
        reviewerReward = params.reviewerReward;
        flaggerReward = params.flaggerReward;
        token_.forceApprove(address(sponsorships_), type(uint256).max);
    }

    /// @notice Flags `target` on a sponsorship both are staked on. Called by the flagger's operator contract.
    ///         Locks `flagStake` of the flagger's stake until the flag resolves; the target can't leave meanwhile.
    ///         Reviewers are picked by `pickReviewers`, from the next block on.
    function flag(uint256 sponsorshipId, address target, string calldata metadata)
        external
        nonReentrant
        returns (uint256 flagId)
    {
        address flagger = msg.sender;
        if (!operatorFactory.isOperator(flagger)) revert NotAnOperator(flagger);
        if (target == flagger) revert CannotFlagSelf(flagger);
        if (sponsorships.stakeOf(sponsorshipId, flagger) == 0) revert NotStaked(sponsorshipId, flagger);
        if (sponsorships.stakeOf(sponsorshipId, target) == 0) revert NotStaked(sponsorshipId, target);
        uint256 open = openFlagOn[sponsorshipId][target];
        if (open != 0) revert AlreadyFlagged(sponsorshipId, target, open);

        // Flagger and target are staked: a third staked operator is needed to review.
        if (sponsorships.stakedOperatorCount() < 3) revert NoReviewersAvailable(sponsorshipId);

        flagId = ++flagCount;
        sponsorships.lockStake(sponsorshipId, flagger, flagStake);
        sponsorships.setUnderReview(sponsorshipId, target, true);
        openFlagOn[sponsorshipId][target] = flagId;
        _flags[flagId] = Flag({
            sponsorshipId: sponsorshipId,
            flagger: flagger,
            target: target,
            flaggedAt: uint64(block.timestamp),
            pickBlock: uint64(block.number),
            deadline: 0,
            reviewerCount: 0,
            kickVotes: 0,
            keepVotes: 0,
            status: Status.Open
        });
        emit Flagged(flagId, sponsorshipId, target, flagger, metadata);
    }

    /// @notice Picks a flag's reviewers (anyone may call, from the block after the flag's on) and starts its voting
    ///         period. Past 256 blocks the seed's block hash is gone: the flag ends inconclusive, nobody slashed.
    function pickReviewers(uint256 flagId) external nonReentrant {
        Flag storage f = _openFlag(flagId);
        if (f.reviewerCount != 0) revert ReviewersAlreadyPicked(flagId);
        if (block.number <= f.pickBlock) revert PickTooEarly(flagId, f.pickBlock + 1);
        bytes32 seedBlockHash = blockhash(f.pickBlock);
        uint8 picked =
            seedBlockHash == 0 ? 0 : _pickReviewers(flagId, f.sponsorshipId, f.flagger, f.target, seedBlockHash);
        if (picked == 0) {
            _resolve(flagId, f, Status.Inconclusive);
            return;
        }
        f.reviewerCount = picked;
        f.deadline = uint64(block.timestamp) + votingPeriod;
        emit ReviewersPicked(flagId, picked, f.deadline);
        address[] storage reviewers = _reviewers[flagId];
        for (uint256 i = 0; i < picked; i++) {
            emit ReviewRequested(flagId, reviewers[i], f.sponsorshipId, f.target);
        }
    }

    /// @notice A reviewer's vote, from its operator contract. A majority of the picked reviewers resolves the flag at
    ///         once.
    function vote(uint256 flagId, bool kick) external nonReentrant {
        Flag storage f = _openFlag(flagId);
        if (f.reviewerCount == 0) revert ReviewersNotPicked(flagId);
        if (block.timestamp > f.deadline) revert VotingEnded(flagId, f.deadline);
        Ballot ballot = ballotOf[flagId][msg.sender];
        if (ballot == Ballot.None) revert NotReviewer(flagId, msg.sender);
        if (ballot != Ballot.Pending) revert AlreadyVoted(flagId, msg.sender);
        ballotOf[flagId][msg.sender] = kick ? Ballot.Kick : Ballot.Keep;
        if (kick) f.kickVotes += 1;
        else f.keepVotes += 1;
        emit Voted(flagId, msg.sender, kick);
        if (uint256(f.kickVotes) * 2 > f.reviewerCount) _resolve(flagId, f, Status.Kicked);
        else if (uint256(f.keepVotes) * 2 >= f.reviewerCount) _resolve(flagId, f, Status.FalseFlag);
    }

    /// @notice After the voting period, anyone concludes a flag on the votes cast: more kicks than keeps kick, a tie
    ///         or more keeps is a false flag, no votes at all is inconclusive (nobody is slashed).
    function conclude(uint256 flagId) external nonReentrant {
        Flag storage f = _openFlag(flagId);
        if (f.reviewerCount == 0) revert ReviewersNotPicked(flagId);
        if (block.timestamp <= f.deadline) revert VotingNotEnded(flagId, f.deadline);
        if (f.kickVotes == 0 && f.keepVotes == 0) _resolve(flagId, f, Status.Inconclusive);
        else if (f.kickVotes > f.keepVotes) _resolve(flagId, f, Status.Kicked);
        else _resolve(flagId, f, Status.FalseFlag);
    }

    function getFlag(uint256 flagId) external view returns (Flag memory) {
        if (_flags[flagId].status == Status.None) revert FlagNotFound(flagId);
        return _flags[flagId];
    }

    function reviewersOf(uint256 flagId) external view returns (address[] memory) {
        return _reviewers[flagId];
    }

    function _openFlag(uint256 flagId) private view returns (Flag storage f) {
        f = _flags[flagId];
        if (f.status == Status.None) revert FlagNotFound(flagId);
        if (f.status != Status.Open) revert FlagNotOpen(flagId, f.status);
    }

    /// O(reviewerCount) whatever the number of staked operators: a bounded number of random draws when there are
    /// many, one pass from a random start when there are few. First pass: only operators not on this sponsorship.
    function _pickReviewers(
        uint256 flagId,
        uint256 sponsorshipId,
        address flagger,
        address target,
        bytes32 seedBlockHash
    ) private returns (uint8 picked) {
        uint256 n = sponsorships.stakedOperatorCount();
        uint256 seed = uint256(keccak256(abi.encode(seedBlockHash, flagId)));
        uint256 draws = uint256(reviewerCount) * 4;
        uint256 tries = n <= draws ? n : draws;
        for (uint256 pass = 0; pass < 2 && picked < reviewerCount; pass++) {
            for (uint256 i = 0; i < tries && picked < reviewerCount; i++) {
                uint256 index = n <= draws ? (seed + i) % n : uint256(keccak256(abi.encode(seed, pass, i))) % n;
                address candidate = sponsorships.stakedOperatorAt(index);
                if (candidate == flagger || candidate == target) continue;
                if (_tryPick(flagId, sponsorshipId, candidate, pass == 0)) picked += 1;
            }
        }
    }

    function _tryPick(uint256 flagId, uint256 sponsorshipId, address candidate, bool outsidersOnly)
        private
        returns (bool)
    {
        if (ballotOf[flagId][candidate] != Ballot.None) return false;
        if (outsidersOnly && sponsorships.stakeOf(sponsorshipId, candidate) != 0) return false;
        ballotOf[flagId][candidate] = Ballot.Pending;
        _reviewers[flagId].push(candidate);
        return true;
    }

    function _resolve(uint256 flagId, Flag storage f, Status outcome) private {
        f.status = outcome;
        uint256 id = f.sponsorshipId;
        delete openFlagOn[id][f.target];
        sponsorships.unlockStake(id, f.flagger, flagStake);
        sponsorships.setUnderReview(id, f.target, false);
        uint256 slashed;
        if (outcome == Status.Kicked) {
            uint256 targetStake = sponsorships.stakeOf(id, f.target);
            slashed = sponsorships.slash(id, f.target, Math.mulDiv(targetStake, slashBps, 10_000));
            sponsorships.kick(id, f.target);
            uint256 left = _payReviewers(flagId, Ballot.Kick, slashed);
            uint256 toFlagger = Math.min(flaggerReward, left);
            if (toFlagger != 0) token.safeTransfer(f.flagger, toFlagger);
            _returnToSponsorship(id, left - toFlagger);
        } else if (outcome == Status.FalseFlag) {
            slashed = sponsorships.slash(id, f.flagger, flagStake);
            _returnToSponsorship(id, _payReviewers(flagId, Ballot.Keep, slashed));
        }
        emit FlagResolved(flagId, outcome, slashed, f.kickVotes, f.keepVotes);
    }

    function _payReviewers(uint256 flagId, Ballot winning, uint256 available) private returns (uint256 left) {
        left = available;
        address[] storage reviewers = _reviewers[flagId];
        for (uint256 i = 0; i < reviewers.length && left != 0; i++) {
            if (ballotOf[flagId][reviewers[i]] != winning) continue;
            uint256 reward = Math.min(reviewerReward, left);
            left -= reward;
            token.safeTransfer(reviewers[i], reward);
        }
    }

    function _returnToSponsorship(uint256 sponsorshipId, uint256 amount) private {
        if (amount != 0) sponsorships.sponsor(sponsorshipId, amount);
    }
}
