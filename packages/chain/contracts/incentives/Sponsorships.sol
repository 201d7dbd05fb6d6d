// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC1363Receiver} from "@openzeppelin/contracts/interfaces/IERC1363Receiver.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ISponsorships, IOperatorFactory, IStreamRegistryView} from "./IIncentives.sol";

/// @title Runnel sponsorships
/// @notice A sponsorship pays its funds out, at a set rate per second, to the operators staked on it, in proportion to
///         stake. Anyone funds it; only operator contracts stake. All sponsorships live in this one contract, so every
///         dev chain has them at one fixed address.
/// @dev Earnings use a cumulative reward-per-stake index: every action costs the same gas however many operators are
///      staked. Rounding always favours the contract: an index step takes from the funds what it is worth rounded up
///      (at most what was due), each operator's share of the index is rounded down, and what rounding keeps back
///      stays in the contract (under 1 wei per index step plus 1 wei per operator per settlement). A sponsorship pays only while at least `minOperators` are staked and it has funds.
contract Sponsorships is ISponsorships, IERC1363Receiver, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// `transferAndCall` data: `abi.encode(ACTION_SPONSOR, sponsorshipId)`.
    uint8 public constant ACTION_SPONSOR = 1;
    /// `transferAndCall` data from an operator contract: `abi.encode(ACTION_STAKE, sponsorshipId)`.
    uint8 public constant ACTION_STAKE = 2;
    /// `transferAndCall` data: `abi.encode(ACTION_CREATE, streamId, ratePerSecond, minOperators, maxOperators,
    /// minStaySeconds, earlyLeavePenalty)`: creates a sponsorship funded with the tokens sent.
    uint8 public constant ACTION_CREATE = 3;
    /// Bounds the operator list of one sponsorship and what an operator's list of sponsorships costs to read.
    uint32 public constant MAX_OPERATORS_LIMIT = 1000;
    uint256 public constant MAX_SPONSORSHIPS_PER_OPERATOR = 32;
    uint256 public constant MAX_RATE_PER_SECOND = 2 ** 128;
    uint256 private constant INDEX_SCALE = 1e36;

    struct Terms {
        string streamId;
        address creator;
        uint256 ratePerSecond;
        uint32 minOperators;
        uint32 maxOperators;
        uint64 minStaySeconds;
        uint256 earlyLeavePenalty;
    }

    struct Pool {
        uint256 unallocated;
        uint256 totalStake;
        uint256 rewardPerStake;
        uint64 lastUpdate;
        uint32 operatorCount;
    }

    struct Stake {
        uint256 amount;
        uint256 locked;
        uint256 rewardPerStakePaid;
        uint256 earnings;
        uint64 joinedAt;
        bool underReview;
    }

    /// One sponsorship as `getSponsorship` shows it, with funds and index brought up to the current block.
    struct SponsorshipView {
        uint256 id;
        string streamId;
        address creator;
        uint256 ratePerSecond;
        uint32 minOperators;
        uint32 maxOperators;
        uint64 minStaySeconds;
        uint256 earlyLeavePenalty;
        uint256 unallocated;
        uint256 totalStake;
        uint32 operatorCount;
        bool paying;
    }

    /// One operator's stake as `getStake` shows it, with earnings up to the current block.
    struct StakeView {
        uint256 amount;
        uint256 locked;
        uint256 earnings;
        uint64 joinedAt;
        bool underReview;
        bool kicked;
    }

    IERC20 public immutable token;
    IStreamRegistryView public immutable streamRegistry;
    IOperatorFactory public immutable operatorFactory;
    address public immutable voteKick;
    uint256 public immutable minimumStake;

    uint256 public sponsorshipCount;
    mapping(uint256 => Terms) private _terms;
    mapping(uint256 => Pool) private _pools;
    mapping(uint256 => mapping(address => Stake)) private _stakes;
    mapping(uint256 => mapping(address => bool)) public kicked;
    mapping(address => uint256) public totalStakeOf;
    address[] private _stakedOperators;
    mapping(address => uint256) private _stakedOperatorSlot;
    mapping(address => uint256[]) private _sponsorshipsOf;
    mapping(address => mapping(uint256 => uint256)) private _sponsorshipSlot;

    event SponsorshipCreated(
        uint256 indexed sponsorshipId,
        string streamId,
        address indexed creator,
        uint256 ratePerSecond,
        uint32 minOperators,
        uint32 maxOperators,
        uint64 minStaySeconds,
        uint256 earlyLeavePenalty
    );
    event Sponsored(uint256 indexed sponsorshipId, address indexed sponsor, uint256 amount);
    event Staked(uint256 indexed sponsorshipId, address indexed operator, uint256 amount, uint256 stake);
    event Unstaked(
        uint256 indexed sponsorshipId, address indexed operator, uint256 returnedStake, uint256 penalty, uint256 earnings
    );
    event EarningsWithdrawn(uint256 indexed sponsorshipId, address indexed operator, uint256 amount);
    event Slashed(uint256 indexed sponsorshipId, address indexed operator, uint256 amount);
    event Kicked(uint256 indexed sponsorshipId, address indexed operator, uint256 returnedStake, uint256 forfeited);

    error StreamNotFound(string streamId);
    error InvalidTerms(string reason);
    error SponsorshipNotFound(uint256 sponsorshipId);
    error NotAnOperator(address account);
    error StakeBelowMinimum(uint256 stake, uint256 minimum);
    error SponsorshipFull(uint256 sponsorshipId, uint32 maxOperators);
    error NotStaked(uint256 sponsorshipId, address operator);
    error UnderReview(uint256 sponsorshipId, address operator);
    error StakeLocked(uint256 sponsorshipId, address operator, uint256 locked);
    error InsufficientFreeStake(uint256 sponsorshipId, address operator, uint256 free, uint256 needed);
    error WasKicked(uint256 sponsorshipId, address operator);
    error TooManySponsorships(address operator, uint256 max);
    error OnlyVoteKick(address caller);
    error OnlyToken(address caller);
    error UnknownAction(uint8 action);
    error ZeroAmount();

    modifier onlyVoteKick() {
        if (msg.sender != voteKick) revert OnlyVoteKick(msg.sender);
        _;
    }

    constructor(
        IERC20 token_,
        IStreamRegistryView streamRegistry_,
        IOperatorFactory operatorFactory_,
        address voteKick_,
        uint256 minimumStake_
    ) {
        token = token_;
        streamRegistry = streamRegistry_;
        operatorFactory = operatorFactory_;
        voteKick = voteKick_;
        minimumStake = minimumStake_;
    }

    // ---- sponsors ----

    /// @notice Creates a sponsorship of a stream. Fund it with `sponsor` (or create and fund in one
    ///         `transferAndCall` with `ACTION_CREATE`).
    function createSponsorship(
        string calldata streamId,
        uint256 ratePerSecond,
        uint32 minOperators,
        uint32 maxOperators,
        uint64 minStaySeconds,
        uint256 earlyLeavePenalty
    ) external returns (uint256 sponsorshipId) {
        return _create(msg.sender, streamId, ratePerSecond, minOperators, maxOperators, minStaySeconds, earlyLeavePenalty);
    }

    /// @notice Adds funds (needs an allowance; `transferAndCall` with `ACTION_SPONSOR` needs none).
    function sponsor(uint256 sponsorshipId, uint256 amount) external nonReentrant {
        token.safeTransferFrom(msg.sender, address(this), amount);
        _sponsor(msg.sender, sponsorshipId, amount);
    }

    function onTransferReceived(address, address from, uint256 value, bytes calldata data)
        external
        nonReentrant
        returns (bytes4)
    {
        if (msg.sender != address(token)) revert OnlyToken(msg.sender);
        uint8 action = abi.decode(data, (uint8));
        if (action == ACTION_SPONSOR) {
            (, uint256 id) = abi.decode(data, (uint8, uint256));
            _sponsor(from, id, value);
        } else if (action == ACTION_STAKE) {
            (, uint256 id) = abi.decode(data, (uint8, uint256));
            _stake(from, id, value);
        } else if (action == ACTION_CREATE) {
            (, string memory streamId, uint256 rate, uint32 minOps, uint32 maxOps, uint64 minStay, uint256 penalty) =
                abi.decode(data, (uint8, string, uint256, uint32, uint32, uint64, uint256));
            uint256 id = _create(from, streamId, rate, minOps, maxOps, minStay, penalty);
            _sponsor(from, id, value);
        } else {
            revert UnknownAction(action);
        }
        return IERC1363Receiver.onTransferReceived.selector;
    }

    // ---- operators ----

    /// @notice Stake from an operator contract's allowance (operators normally stake with `transferAndCall`).
    function stake(uint256 sponsorshipId, uint256 amount) external nonReentrant {
        token.safeTransferFrom(msg.sender, address(this), amount);
        _stake(msg.sender, sponsorshipId, amount);
    }

    /// @notice Leaves the sponsorship: the stake comes back with the earnings, less the early-leave penalty if the
    ///         operator stayed less than `minStaySeconds`. Not while under review or while its own flags are open.
    function unstake(uint256 sponsorshipId)
        external
        nonReentrant
        returns (uint256 returnedStake, uint256 earnings)
    {
        Terms storage t = _termsOf(sponsorshipId);
        Pool storage p = _accrue(sponsorshipId, t);
        Stake storage s = _stakes[sponsorshipId][msg.sender];
        if (s.amount == 0) revert NotStaked(sponsorshipId, msg.sender);
        if (s.underReview) revert UnderReview(sponsorshipId, msg.sender);
        if (s.locked != 0) revert StakeLocked(sponsorshipId, msg.sender, s.locked);
        _settle(p, s);
        uint256 penalty = block.timestamp < uint256(s.joinedAt) + t.minStaySeconds
            ? Math.min(t.earlyLeavePenalty, s.amount)
            : 0;
        returnedStake = s.amount - penalty;
        earnings = s.earnings;
        p.unallocated += penalty;
        _remove(sponsorshipId, msg.sender, p, s);
        token.safeTransfer(msg.sender, returnedStake + earnings);
        emit Unstaked(sponsorshipId, msg.sender, returnedStake, penalty, earnings);
    }

    /// @notice Pays the caller's earnings so far. Not while under review (a kick forfeits them).
    function withdrawEarnings(uint256 sponsorshipId) external nonReentrant returns (uint256 earnings) {
        Terms storage t = _termsOf(sponsorshipId);
        Pool storage p = _accrue(sponsorshipId, t);
        Stake storage s = _stakes[sponsorshipId][msg.sender];
        if (s.amount == 0) revert NotStaked(sponsorshipId, msg.sender);
        if (s.underReview) revert UnderReview(sponsorshipId, msg.sender);
        _settle(p, s);
        earnings = s.earnings;
        if (earnings == 0) return 0;
        s.earnings = 0;
        token.safeTransfer(msg.sender, earnings);
        emit EarningsWithdrawn(sponsorshipId, msg.sender, earnings);
    }

    // ---- the vote-kick contract ----

    function lockStake(uint256 sponsorshipId, address operator, uint256 amount) external onlyVoteKick {
        Stake storage s = _stakes[sponsorshipId][operator];
        if (s.amount == 0) revert NotStaked(sponsorshipId, operator);
        uint256 free = s.amount - s.locked;
        if (free < amount) revert InsufficientFreeStake(sponsorshipId, operator, free, amount);
        s.locked += amount;
    }

    /// Tolerant of a stake that is gone (kicked meanwhile): a resolution must never get stuck.
    function unlockStake(uint256 sponsorshipId, address operator, uint256 amount) external onlyVoteKick {
        Stake storage s = _stakes[sponsorshipId][operator];
        s.locked = s.locked > amount ? s.locked - amount : 0;
    }

    function setUnderReview(uint256 sponsorshipId, address operator, bool underReview) external onlyVoteKick {
        Stake storage s = _stakes[sponsorshipId][operator];
        if (s.amount != 0) s.underReview = underReview;
    }

    /// Moves up to `amount` of the operator's stake to the vote-kick contract, which pays reviewers from it.
    function slash(uint256 sponsorshipId, address operator, uint256 amount)
        external
        onlyVoteKick
        nonReentrant
        returns (uint256 slashed)
    {
        Terms storage t = _termsOf(sponsorshipId);
        Pool storage p = _accrue(sponsorshipId, t);
        Stake storage s = _stakes[sponsorshipId][operator];
        if (s.amount == 0) return 0;
        _settle(p, s);
        slashed = Math.min(amount, s.amount);
        s.amount -= slashed;
        s.locked = Math.min(s.locked, s.amount);
        p.totalStake -= slashed;
        _subtractTotalStake(operator, slashed);
        if (s.amount == 0) {
            uint256 earnings = s.earnings;
            _remove(sponsorshipId, operator, p, s);
            if (earnings != 0) token.safeTransfer(operator, earnings);
        }
        token.safeTransfer(voteKick, slashed);
        emit Slashed(sponsorshipId, operator, slashed);
    }

    /// Removes the operator for good: its stake goes back, its unwithdrawn earnings return to the sponsorship's funds.
    function kick(uint256 sponsorshipId, address operator) external onlyVoteKick nonReentrant {
        Terms storage t = _termsOf(sponsorshipId);
        Pool storage p = _accrue(sponsorshipId, t);
        kicked[sponsorshipId][operator] = true;
        Stake storage s = _stakes[sponsorshipId][operator];
        if (s.amount == 0) return;
        _settle(p, s);
        uint256 returned = s.amount;
        uint256 forfeited = s.earnings;
        p.unallocated += forfeited;
        _remove(sponsorshipId, operator, p, s);
        token.safeTransfer(operator, returned);
        emit Kicked(sponsorshipId, operator, returned, forfeited);
    }

    // ---- views ----

    function getSponsorship(uint256 sponsorshipId) external view returns (SponsorshipView memory v) {
        Terms storage t = _termsOf(sponsorshipId);
        Pool storage p = _pools[sponsorshipId];
        (, uint256 unallocated) = _projected(t, p);
        v = SponsorshipView({
            id: sponsorshipId,
            streamId: t.streamId,
            creator: t.creator,
            ratePerSecond: t.ratePerSecond,
            minOperators: t.minOperators,
            maxOperators: t.maxOperators,
            minStaySeconds: t.minStaySeconds,
            earlyLeavePenalty: t.earlyLeavePenalty,
            unallocated: unallocated,
            totalStake: p.totalStake,
            operatorCount: p.operatorCount,
            paying: p.totalStake != 0 && p.operatorCount >= t.minOperators && unallocated != 0
        });
    }

    function getStake(uint256 sponsorshipId, address operator) external view returns (StakeView memory v) {
        Terms storage t = _termsOf(sponsorshipId);
        Stake storage s = _stakes[sponsorshipId][operator];
        (uint256 index,) = _projected(t, _pools[sponsorshipId]);
        v = StakeView({
            amount: s.amount,
            locked: s.locked,
            earnings: s.earnings + Math.mulDiv(s.amount, index - s.rewardPerStakePaid, INDEX_SCALE),
            joinedAt: s.joinedAt,
            underReview: s.underReview,
            kicked: kicked[sponsorshipId][operator]
        });
    }

    function stakeOf(uint256 sponsorshipId, address operator) external view returns (uint256) {
        return _stakes[sponsorshipId][operator].amount;
    }

    function lockedOf(uint256 sponsorshipId, address operator) external view returns (uint256) {
        return _stakes[sponsorshipId][operator].locked;
    }

    /// An operator's earnings not yet withdrawn, across all its sponsorships, as of this block; stakes under review are
    /// left out (a kick would forfeit them). Operators value their shares with it, so that a delegation made just
    /// before earnings are collected buys them at their price instead of taking a share of them.
    function pendingEarningsOf(address operator) external view returns (uint256) {
        return _pendingEarnings(operator, false);
    }

    /// The earnings `pendingEarningsOf` leaves out: those of the operator's stakes under review. Operators price new
    /// shares with them (a flag that fails gives them back), so that a flag can't sell the target's shares cheaply.
    function reviewedEarningsOf(address operator) external view returns (uint256) {
        return _pendingEarnings(operator, true);
    }

    /// The sponsorships an operator is staked on (at most `MAX_SPONSORSHIPS_PER_OPERATOR`).
    function sponsorshipsOf(address operator) external view returns (uint256[] memory) {
        return _sponsorshipsOf[operator];
    }

    /// Operators staked anywhere, the pool reviewers are picked from.
    function stakedOperatorCount() external view returns (uint256) {
        return _stakedOperators.length;
    }

    function stakedOperatorAt(uint256 index) external view returns (address) {
        return _stakedOperators[index];
    }

    // ---- internals ----

    function _create(
        address creator,
        string memory streamId,
        uint256 ratePerSecond,
        uint32 minOperators,
        uint32 maxOperators,
        uint64 minStaySeconds,
        uint256 earlyLeavePenalty
    ) private returns (uint256 id) {
        if (!streamRegistry.exists(streamId)) revert StreamNotFound(streamId);
        if (ratePerSecond == 0 || ratePerSecond > MAX_RATE_PER_SECOND) revert InvalidTerms("ratePerSecond out of range");
        if (minOperators == 0 || minOperators > maxOperators) {
            revert InvalidTerms("need 1 <= minOperators <= maxOperators");
        }
        if (maxOperators > MAX_OPERATORS_LIMIT) revert InvalidTerms("maxOperators above 1000");
        if (minStaySeconds > 365 days) revert InvalidTerms("minStaySeconds above a year");
        id = ++sponsorshipCount;
        _terms[id] = Terms(streamId, creator, ratePerSecond, minOperators, maxOperators, minStaySeconds, earlyLeavePenalty);
        _pools[id].lastUpdate = uint64(block.timestamp);
        emit SponsorshipCreated(
            id, streamId, creator, ratePerSecond, minOperators, maxOperators, minStaySeconds, earlyLeavePenalty
        );
    }

    function _sponsor(address from, uint256 sponsorshipId, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        Terms storage t = _termsOf(sponsorshipId);
        // Accrue first: the time a sponsorship spent dry must not be paid from funds that arrive later.
        Pool storage p = _accrue(sponsorshipId, t);
        p.unallocated += amount;
        emit Sponsored(sponsorshipId, from, amount);
    }

    function _stake(address operator, uint256 sponsorshipId, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        if (!operatorFactory.isOperator(operator)) revert NotAnOperator(operator);
        Terms storage t = _termsOf(sponsorshipId);
        if (kicked[sponsorshipId][operator]) revert WasKicked(sponsorshipId, operator);
        Pool storage p = _accrue(sponsorshipId, t);
        Stake storage s = _stakes[sponsorshipId][operator];
        if (s.amount == 0) {
            if (p.operatorCount >= t.maxOperators) revert SponsorshipFull(sponsorshipId, t.maxOperators);
            if (amount < minimumStake) revert StakeBelowMinimum(amount, minimumStake);
            uint256[] storage list = _sponsorshipsOf[operator];
            if (list.length >= MAX_SPONSORSHIPS_PER_OPERATOR) {
                revert TooManySponsorships(operator, MAX_SPONSORSHIPS_PER_OPERATOR);
            }
            list.push(sponsorshipId);
            _sponsorshipSlot[operator][sponsorshipId] = list.length;
            p.operatorCount += 1;
            s.joinedAt = uint64(block.timestamp);
            s.rewardPerStakePaid = p.rewardPerStake;
        } else {
            _settle(p, s);
        }
        s.amount += amount;
        p.totalStake += amount;
        if (totalStakeOf[operator] == 0) {
            _stakedOperators.push(operator);
            _stakedOperatorSlot[operator] = _stakedOperators.length;
        }
        totalStakeOf[operator] += amount;
        emit Staked(sponsorshipId, operator, amount, s.amount);
    }

    function _remove(uint256 sponsorshipId, address operator, Pool storage p, Stake storage s) private {
        p.totalStake -= s.amount;
        p.operatorCount -= 1;
        _subtractTotalStake(operator, s.amount);
        delete _stakes[sponsorshipId][operator];
        uint256[] storage list = _sponsorshipsOf[operator];
        uint256 slot = _sponsorshipSlot[operator][sponsorshipId];
        uint256 last = list[list.length - 1];
        list[slot - 1] = last;
        _sponsorshipSlot[operator][last] = slot;
        list.pop();
        delete _sponsorshipSlot[operator][sponsorshipId];
    }

    function _subtractTotalStake(address operator, uint256 amount) private {
        uint256 remaining = totalStakeOf[operator] - amount;
        totalStakeOf[operator] = remaining;
        if (remaining != 0 || amount == 0) return;
        uint256 slot = _stakedOperatorSlot[operator];
        address last = _stakedOperators[_stakedOperators.length - 1];
        _stakedOperators[slot - 1] = last;
        _stakedOperatorSlot[last] = slot;
        _stakedOperators.pop();
        delete _stakedOperatorSlot[operator];
    }

    function _pendingEarnings(address operator, bool underReview) private view returns (uint256 total) {
        uint256[] storage ids = _sponsorshipsOf[operator];
        for (uint256 i = 0; i < ids.length; i++) {
            Stake storage s = _stakes[ids[i]][operator];
            if (s.underReview != underReview) continue;
            (uint256 index,) = _projected(_terms[ids[i]], _pools[ids[i]]);
            total += s.earnings + Math.mulDiv(s.amount, index - s.rewardPerStakePaid, INDEX_SCALE);
        }
    }

    function _termsOf(uint256 sponsorshipId) private view returns (Terms storage t) {
        t = _terms[sponsorshipId];
        if (t.creator == address(0)) revert SponsorshipNotFound(sponsorshipId);
    }

    function _accrue(uint256 sponsorshipId, Terms storage t) private returns (Pool storage p) {
        p = _pools[sponsorshipId];
        if (p.lastUpdate == block.timestamp) return p;
        (p.rewardPerStake, p.unallocated) = _projected(t, p);
        p.lastUpdate = uint64(block.timestamp);
    }

    /// The index and the funds left as they stand now: what `_accrue` would store.
    function _projected(Terms storage t, Pool storage p) private view returns (uint256 index, uint256 unallocated) {
        index = p.rewardPerStake;
        unallocated = p.unallocated;
        if (p.totalStake == 0 || p.operatorCount < t.minOperators || unallocated == 0) return (index, unallocated);
        uint256 due = (block.timestamp - p.lastUpdate) * t.ratePerSecond;
        if (due > unallocated) due = unallocated;
        uint256 step = Math.mulDiv(due, INDEX_SCALE, p.totalStake);
        index += step;
        // Take from the funds what the step is worth, rounded UP: operators settle their index deltas over many
        // steps at once, so their floored shares can gather the fractions of several steps. Rounding this down let
        // them be paid wei the funds never gave up (insolvency by dust). step * totalStake <= due * INDEX_SCALE, so
        // the ceiling never exceeds `due`; the remainder stays unallocated.
        unallocated -= Math.mulDiv(step, p.totalStake, INDEX_SCALE, Math.Rounding.Ceil);
    }

    function _settle(Pool storage p, Stake storage s) private {
        uint256 delta = p.rewardPerStake - s.rewardPerStakePaid;
        if (delta == 0) return;
        s.earnings += Math.mulDiv(s.amount, delta, INDEX_SCALE);
        s.rewardPerStakePaid = p.rewardPerStake;
    }
}
