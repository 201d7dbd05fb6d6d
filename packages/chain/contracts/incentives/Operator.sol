// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {IERC1363} from "@openzeppelin/contracts/interfaces/IERC1363.sol";
import {IERC1363Receiver} from "@openzeppelin/contracts/interfaces/IERC1363Receiver.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ISponsorships, IVoteKick} from "./IIncentives.sol";

/// @title A Runnel operator
/// @notice Holds an operator's stake. Delegators deposit tokens for shares (an ERC-4626 vault whose assets are the
///         tokens held plus the stake in sponsorships); the owner stakes them into sponsorships and its nodes collect
///         the earnings, of which the owner takes its cut and the rest raises the share value. Slashing lowers the
///         stake and so every share's value, pro rata. Delegators leave through a first-in-first-out queue paid as
///         tokens come free.
/// @dev Deployed as an EIP-1167 clone by the operator factory: the addresses of the other contracts and the global
///      parameters are immutables of the implementation, per-operator settings are storage set by `initialize`.
///      The vault's virtual offset (10^6 virtual shares and 1 virtual token) makes the first-depositor
///      share-inflation attack cost the attacker a million times what it could take.
contract Operator is ERC4626, IERC1363Receiver, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint8 private constant ACTION_STAKE = 2;
    uint256 public constant MAX_NODES = 16;
    uint256 public constant MAX_HEARTBEAT_BYTES = 1000;
    /// Queue entries paid per call, so paying the queue never runs out of gas.
    uint256 public constant MAX_PAYOUTS_PER_CALL = 20;

    struct Undelegation {
        address delegator;
        uint256 shares;
        uint64 requestedAt;
    }

    ISponsorships public immutable sponsorships;
    IVoteKick public immutable voteKick;
    address public immutable factory;
    /// The owner's shares must stay at least this share of all shares for anyone else to delegate, in basis points.
    uint16 public immutable minSelfDelegationBps;
    /// An undelegation waiting longer than this lets anyone unstake the operator from a sponsorship to pay it.
    uint64 public immutable maxQueueSeconds;

    address public owner;
    uint16 public cutBps;
    string public metadata;
    bool private _initialized;
    address[] private _nodes;
    mapping(address => bool) public isNode;
    mapping(address => uint64) public lastHeartbeat;
    Undelegation[] private _queue;
    uint256 public queueHead;
    uint256 public queuedShares;
    uint256 private _arriving;

    event NodesSet(address[] nodes);
    event CutSet(uint16 cutBps);
    event Heartbeat(address indexed node, string metadata);
    event EarningsCollected(uint256 earnings, uint256 ownerCut);
    event UndelegationQueued(address indexed delegator, uint256 shares);
    event Undelegated(address indexed delegator, uint256 shares, uint256 amount);

    error AlreadyInitialized();
    error NotOwner(address caller);
    error NotOwnerOrNode(address caller);
    error NotNode(address caller);
    error InvalidCut(uint256 cutBps);
    error CutRaisedWhileStaked(uint16 current, uint16 wanted);
    error TooManyNodes(uint256 count, uint256 max);
    error HeartbeatTooLarge(uint256 bytesLength, uint256 max);
    error OnlyToken(address caller);
    error SelfDelegationTooLow(uint256 ownerShares, uint256 totalShares, uint16 minBps);
    error InsufficientShares(uint256 have, uint256 want);
    error ZeroAmount();
    error UndelegationQueueNotEmpty(uint256 waiting);
    error QueueNotOverdue();
    error UseUndelegate();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier onlyOwnerOrNode() {
        if (msg.sender != owner && !isNode[msg.sender]) revert NotOwnerOrNode(msg.sender);
        _;
    }

    constructor(
        IERC20 token_,
        ISponsorships sponsorships_,
        IVoteKick voteKick_,
        address factory_,
        uint16 minSelfDelegationBps_,
        uint64 maxQueueSeconds_
    ) ERC20("", "") ERC4626(token_) {
        sponsorships = sponsorships_;
        voteKick = voteKick_;
        factory = factory_;
        minSelfDelegationBps = minSelfDelegationBps_;
        maxQueueSeconds = maxQueueSeconds_;
        // The implementation itself is never an operator.
        _initialized = true;
    }

    function initialize(address owner_, uint16 cutBps_, string calldata metadata_) external {
        if (_initialized || msg.sender != factory) revert AlreadyInitialized();
        if (cutBps_ > 10_000) revert InvalidCut(cutBps_);
        _initialized = true;
        owner = owner_;
        cutBps = cutBps_;
        metadata = metadata_;
    }

    function name() public pure override(ERC20, IERC20Metadata) returns (string memory) {
        return "Runnel Operator Share";
    }

    function symbol() public pure override(ERC20, IERC20Metadata) returns (string memory) {
        return "RNLOS";
    }

    // ---- delegators ----

    /// Tokens held, plus stake in sponsorships (slashes show at once), plus earnings not yet collected less the
    /// owner's cut of them. Counting the earnings keeps a delegation made just before they are collected from taking
    /// a share of what was earned before it.
    function totalAssets() public view override returns (uint256) {
        uint256 pending = sponsorships.pendingEarningsOf(address(this));
        uint256 pendingAfterCut = pending - Math.mulDiv(pending, cutBps, 10_000);
        return IERC20(asset()).balanceOf(address(this)) + sponsorships.totalStakeOf(address(this)) + pendingAfterCut
            - _arriving;
    }

    /// New shares are priced higher than leaving ones: with the earnings of stakes under review too. Leaving without
    /// them is right (a kick forfeits them), but selling shares without them let anyone flag an operator, delegate to
    /// it cheaply, let the flag fail, and take most of what its delegators had earned for the price of a flag stake.
    function previewDeposit(uint256 assets) public view override returns (uint256) {
        return Math.mulDiv(assets, totalSupply() + 10 ** _decimalsOffset(), _assetsForNewShares() + 1);
    }

    function previewMint(uint256 shares) public view override returns (uint256) {
        return Math.mulDiv(shares, _assetsForNewShares() + 1, totalSupply() + 10 ** _decimalsOffset(), Math.Rounding.Ceil);
    }

    /// @notice Delegates in one transaction: `token.transferAndCall(operator, amount)`.
    function onTransferReceived(address, address from, uint256 value, bytes calldata)
        external
        nonReentrant
        returns (bytes4)
    {
        if (msg.sender != asset()) revert OnlyToken(msg.sender);
        if (value == 0) revert ZeroAmount();
        // Price the shares as before the tokens arrived, as `deposit` does.
        _arriving = value;
        uint256 shares = previewDeposit(value);
        _arriving = 0;
        _mint(from, shares);
        emit Deposit(from, from, value, shares);
        _checkSelfDelegation(from);
        return IERC1363Receiver.onTransferReceived.selector;
    }

    function _deposit(address caller, address receiver, uint256 assets, uint256 shares) internal override {
        if (assets == 0) revert ZeroAmount();
        super._deposit(caller, receiver, assets, shares);
        _checkSelfDelegation(receiver);
    }

    /// Exits go through `undelegate`, so that nobody jumps the queue.
    function maxWithdraw(address) public pure override returns (uint256) {
        return 0;
    }

    function maxRedeem(address) public pure override returns (uint256) {
        return 0;
    }

    /// @notice Queues `shares` for payout and pays the queue as far as free tokens allow. Queued shares keep their
    ///         place in the vault until paid, at the share value of payout time (so a slash meanwhile reaches them).
    function undelegate(uint256 shares) external nonReentrant {
        if (shares == 0) revert ZeroAmount();
        uint256 have = balanceOf(msg.sender);
        if (shares > have) revert InsufficientShares(have, shares);
        _transfer(msg.sender, address(this), shares);
        queuedShares += shares;
        _queue.push(Undelegation(msg.sender, shares, uint64(block.timestamp)));
        emit UndelegationQueued(msg.sender, shares);
        if (msg.sender == owner) _checkSelfDelegation(address(0));
        _payOutQueue();
    }

    /// @notice Pays waiting undelegations from free tokens (anyone may call).
    function payOutQueue() external nonReentrant {
        _payOutQueue();
    }

    // ---- the owner and its nodes ----

    function stake(uint256 sponsorshipId, uint256 amount) external onlyOwner nonReentrant {
        uint256 waiting = _queue.length - queueHead;
        if (waiting != 0) revert UndelegationQueueNotEmpty(waiting);
        IERC1363(asset()).transferAndCall(address(sponsorships), amount, abi.encode(ACTION_STAKE, sponsorshipId));
    }

    function unstake(uint256 sponsorshipId) external onlyOwner nonReentrant {
        _unstake(sponsorshipId);
    }

    /// @notice When the oldest undelegation has waited longer than `maxQueueSeconds`, anyone may unstake the operator
    ///         from a sponsorship to pay the queue.
    function forceUnstake(uint256 sponsorshipId) external nonReentrant {
        if (queueHead >= _queue.length || _queue[queueHead].requestedAt + maxQueueSeconds > block.timestamp) {
            revert QueueNotOverdue();
        }
        _unstake(sponsorshipId);
    }

    function withdrawEarnings(uint256[] calldata sponsorshipIds) external onlyOwnerOrNode nonReentrant {
        uint256 earnings;
        for (uint256 i = 0; i < sponsorshipIds.length; i++) {
            earnings += sponsorships.withdrawEarnings(sponsorshipIds[i]);
        }
        _collect(earnings);
        _payOutQueue();
    }

    /// @notice The owner may lower its cut at any time, but raise it only while staked nowhere: raised during a stake,
    ///         it would take part of what delegators had already earned.
    function setCut(uint16 cutBps_) external onlyOwner {
        if (cutBps_ > 10_000) revert InvalidCut(cutBps_);
        if (cutBps_ > cutBps && sponsorships.totalStakeOf(address(this)) != 0) revert CutRaisedWhileStaked(cutBps, cutBps_);
        cutBps = cutBps_;
        emit CutSet(cutBps_);
    }

    function setNodes(address[] calldata nodes_) external onlyOwner {
        if (nodes_.length > MAX_NODES) revert TooManyNodes(nodes_.length, MAX_NODES);
        for (uint256 i = 0; i < _nodes.length; i++) isNode[_nodes[i]] = false;
        for (uint256 i = 0; i < nodes_.length; i++) isNode[nodes_[i]] = true;
        _nodes = nodes_;
        emit NodesSet(nodes_);
    }

    /// @notice A node says it is alive and how to reach it (a short JSON document).
    function heartbeat(string calldata metadata_) external {
        if (!isNode[msg.sender]) revert NotNode(msg.sender);
        if (bytes(metadata_).length > MAX_HEARTBEAT_BYTES) {
            revert HeartbeatTooLarge(bytes(metadata_).length, MAX_HEARTBEAT_BYTES);
        }
        lastHeartbeat[msg.sender] = uint64(block.timestamp);
        emit Heartbeat(msg.sender, metadata_);
    }

    function flag(uint256 sponsorshipId, address target, string calldata metadata_)
        external
        onlyOwnerOrNode
        returns (uint256)
    {
        return voteKick.flag(sponsorshipId, target, metadata_);
    }

    function vote(uint256 flagId, bool kick) external onlyOwnerOrNode {
        voteKick.vote(flagId, kick);
    }

    // ---- views ----

    function nodes() external view returns (address[] memory) {
        return _nodes;
    }

    /// What a delegator's shares are worth now, queued ones excluded.
    function valueOf(address delegator) external view returns (uint256) {
        return _convertToAssets(balanceOf(delegator), Math.Rounding.Floor);
    }

    function queueLength() external view returns (uint256) {
        return _queue.length - queueHead;
    }

    function queueEntry(uint256 index) external view returns (Undelegation memory) {
        return _queue[queueHead + index];
    }

    // ---- internals ----

    /// The owner giving its shares away would undo the self-delegation rule as surely as undelegating.
    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (from == owner && to != address(0) && to != address(this)) _checkSelfDelegation(address(0));
    }

    function _assetsForNewShares() private view returns (uint256) {
        uint256 reviewed = sponsorships.reviewedEarningsOf(address(this));
        return totalAssets() + reviewed - Math.mulDiv(reviewed, cutBps, 10_000);
    }

    function _decimalsOffset() internal pure override returns (uint8) {
        return 6;
    }

    function _unstake(uint256 sponsorshipId) private {
        (, uint256 earnings) = sponsorships.unstake(sponsorshipId);
        _collect(earnings);
        _payOutQueue();
    }

    function _collect(uint256 earnings) private {
        if (earnings == 0) return;
        uint256 cut = Math.mulDiv(earnings, cutBps, 10_000);
        if (cut != 0) IERC20(asset()).safeTransfer(owner, cut);
        emit EarningsCollected(earnings, cut);
    }

    function _payOutQueue() private {
        IERC20 token = IERC20(asset());
        for (uint256 n = 0; n < MAX_PAYOUTS_PER_CALL && queueHead < _queue.length; n++) {
            Undelegation storage entry = _queue[queueHead];
            uint256 free = token.balanceOf(address(this));
            uint256 shares = entry.shares;
            uint256 amount = _convertToAssets(shares, Math.Rounding.Floor);
            if (amount > free) {
                if (free == 0) return;
                // A part payment: the shares it burns are rounded up, against the leaver.
                shares = Math.min(_convertToShares(free, Math.Rounding.Ceil), shares);
                amount = Math.min(_convertToAssets(shares, Math.Rounding.Floor), free);
            }
            _burn(address(this), shares);
            queuedShares -= shares;
            entry.shares -= shares;
            if (amount != 0) token.safeTransfer(entry.delegator, amount);
            emit Undelegated(entry.delegator, shares, amount);
            if (entry.shares != 0) return;
            delete _queue[queueHead];
            queueHead += 1;
        }
    }

    /// Anyone but the owner may hold shares only while the owner holds `minSelfDelegationBps` of them.
    function _checkSelfDelegation(address delegator) private view {
        if (delegator == owner) return;
        uint256 total = totalSupply() - queuedShares;
        uint256 own = balanceOf(owner);
        if (total == own) return;
        if (own * 10_000 < total * minSelfDelegationBps) {
            revert SelfDelegationTooLow(own, total, minSelfDelegationBps);
        }
    }
}
