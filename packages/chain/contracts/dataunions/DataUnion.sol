// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC1363Receiver} from "@openzeppelin/contracts/interfaces/IERC1363Receiver.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IRevenueSink} from "./IDataUnion.sol";

/// @title Runnel Data Union
/// @notice A crowd of members who share the revenue of the data they produce. Revenue is any amount of the union's
///         token that arrives (a marketplace purchase, an ERC-1363 transferAndCall, or a plain transfer accounted by
///         anyone calling refreshRevenue); the admin takes its fee and the rest is shared among the active members by
///         weight. Members keep what they earned when they part and when they re-join, and withdraw to themselves,
///         to another address, or through anyone holding their EIP-712 signature (so a member needs no gas).
/// @dev Every operation is O(1) in the number of members: revenue raises one cumulative index (token units per unit
///      of weight, scaled by PRECISION) and a member's earnings are settled from it only when the member is touched.
///      The remainder of each division is carried into the next revenue, so no token is created or lost; a member's
///      earnings are floored to the wei only when read. Deployed as clones by DataUnionFactory.
contract DataUnion is IRevenueSink, IERC1363Receiver, EIP712, Nonces {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Active,
        Parted
    }

    struct Member {
        Status status;
        uint96 weight;
        uint256 lastIndex;
        uint256 settledScaled;
        uint256 withdrawn;
    }

    struct MemberInfo {
        Status status;
        uint96 weight;
        uint256 earned;
        uint256 withdrawn;
        uint256 withdrawable;
    }

    struct Stats {
        uint256 totalRevenue;
        uint256 totalWithdrawn;
        uint256 totalWeight;
        uint256 activeMemberCount;
        uint256 memberCount;
        uint256 revenuePerWeight;
        uint256 adminEarned;
        uint256 adminWithdrawn;
        uint16 adminFeeBps;
    }

    uint256 public constant PRECISION = 1e18;
    uint16 public constant MAX_FEE_BPS = 10_000;
    uint256 public constant MAX_BATCH = 100;
    /// @notice How long a raise of the admin fee waits before it applies: members see it coming and may part, and an
    ///         admin can't raise it in front of a purchase to take that purchase's revenue.
    uint64 public constant FEE_RAISE_DELAY = 7 days;
    bytes32 public constant WITHDRAW_TYPEHASH =
        keccak256("Withdraw(address member,address to,uint256 amount,uint256 nonce,uint256 deadline)");

    address public immutable factory;

    bool private _initialized;
    IERC20 private _token;
    address public admin;
    uint16 public adminFeeBps;
    /// @notice A raise waiting for `pendingAdminFeeAt` (0: none); packed into the admin's slot.
    uint16 public pendingAdminFeeBps;
    uint64 public pendingAdminFeeAt;
    string public metadata;
    mapping(address agent => bool) public isJoinAgent;
    mapping(address member => Member) private _members;

    uint256 public revenuePerWeight;
    uint256 public totalWeight;
    uint256 public activeMemberCount;
    uint256 public memberCount;
    uint256 public totalRevenue;
    uint256 public totalWithdrawn;
    uint256 public adminEarned;
    uint256 public adminWithdrawn;
    /// @dev Scaled remainder of the last index division, owed to the next.
    uint256 private _carryScaled;
    /// @dev The token balance already accounted as revenue and not yet withdrawn.
    uint256 private _accounted;

    event Initialized(address indexed admin, address indexed token, uint16 adminFeeBps, string metadata);
    event MemberJoined(address indexed member, uint96 weight);
    event MemberParted(address indexed member, address indexed by);
    event MemberWeightChanged(address indexed member, uint96 oldWeight, uint96 newWeight);
    /// @param revenuePerWeight The cumulative index after this revenue (scaled by PRECISION).
    event RevenueReceived(uint256 amount, uint256 adminFee, uint256 revenuePerWeight);
    event Withdrawal(address indexed member, address indexed to, uint256 amount, bool signed);
    event AdminWithdrawal(address indexed to, uint256 amount);
    event AdminFeeChanged(uint16 adminFeeBps);
    event AdminFeeRaiseScheduled(uint16 adminFeeBps, uint64 effectiveAt);
    event AdminChanged(address indexed previousAdmin, address indexed newAdmin);
    event JoinAgentAdded(address indexed agent);
    event JoinAgentRemoved(address indexed agent);

    error AlreadyInitialized();
    error NotAdmin(address caller);
    error NotJoinAgent(address caller);
    error NotMember(address member);
    error NotActiveMember(address member);
    error AlreadyMember(address member);
    error InvalidWeight(uint256 weight);
    error InvalidFee(uint256 adminFeeBps, uint256 max);
    error InvalidAddress();
    error InvalidAmount(uint256 amount);
    error InvalidMemberBatch(uint256 size, uint256 max);
    error InsufficientEarnings(address member, uint256 requested, uint256 available);
    error InvalidSignature(address member);
    error SignatureExpired(uint256 deadline);
    error UnsupportedToken(address token);

    constructor(address factory_) EIP712("Runnel Data Union", "1") {
        factory = factory_;
    }

    function initialize(
        address token_,
        address admin_,
        uint16 adminFeeBps_,
        address[] calldata joinAgents,
        string calldata metadata_
    ) external {
        if (_initialized || msg.sender != factory) revert AlreadyInitialized();
        if (token_ == address(0) || admin_ == address(0)) revert InvalidAddress();
        if (adminFeeBps_ > MAX_FEE_BPS) revert InvalidFee(adminFeeBps_, MAX_FEE_BPS);
        _initialized = true;
        _token = IERC20(token_);
        admin = admin_;
        adminFeeBps = adminFeeBps_;
        metadata = metadata_;
        emit Initialized(admin_, token_, adminFeeBps_, metadata_);
        for (uint256 i = 0; i < joinAgents.length; i++) _addJoinAgent(joinAgents[i]);
    }

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    modifier onlyJoinAgent() {
        if (!isJoinAgent[msg.sender] && msg.sender != admin) revert NotJoinAgent(msg.sender);
        _;
    }

    function token() external view returns (address) {
        return address(_token);
    }

    // ---- revenue ----

    /// @inheritdoc IRevenueSink
    function refreshRevenue() public returns (uint256 amount) {
        if (pendingAdminFeeAt != 0 && block.timestamp >= pendingAdminFeeAt) {
            adminFeeBps = pendingAdminFeeBps;
            pendingAdminFeeAt = 0;
            emit AdminFeeChanged(adminFeeBps);
        }
        uint256 balance = _token.balanceOf(address(this));
        if (balance <= _accounted) return 0;
        amount = balance - _accounted;
        _accounted = balance;
        totalRevenue += amount;
        uint256 fee = totalWeight == 0 ? amount : (amount * adminFeeBps) / MAX_FEE_BPS;
        adminEarned += fee;
        uint256 share = amount - fee;
        if (share > 0) {
            uint256 scaled = share * PRECISION + _carryScaled;
            uint256 delta = scaled / totalWeight;
            _carryScaled = scaled - delta * totalWeight;
            revenuePerWeight += delta;
        }
        emit RevenueReceived(amount, fee, revenuePerWeight);
    }

    /// @notice ERC-1363: a transferAndCall of the union's token is revenue at once; other tokens are refused, since
    ///         nothing here could ever pay them out.
    function onTransferReceived(address, address, uint256, bytes calldata) external returns (bytes4) {
        if (msg.sender != address(_token)) revert UnsupportedToken(msg.sender);
        refreshRevenue();
        return IERC1363Receiver.onTransferReceived.selector;
    }

    // ---- members ----

    function addMember(address member, uint96 weight) external onlyJoinAgent {
        refreshRevenue();
        _add(member, weight);
    }

    /// @notice Adds up to MAX_BATCH members in one transaction; all join, or none.
    function addMembers(address[] calldata members, uint96[] calldata weights) external onlyJoinAgent {
        if (members.length == 0 || members.length > MAX_BATCH || weights.length != members.length) {
            revert InvalidMemberBatch(members.length, MAX_BATCH);
        }
        refreshRevenue();
        for (uint256 i = 0; i < members.length; i++) _add(members[i], weights[i]);
    }

    /// @notice Ends `member`'s share of future revenue; what it earned stays withdrawable. A join agent may part
    ///         anyone, a member itself.
    function partMember(address member) external {
        if (member != msg.sender && !isJoinAgent[msg.sender] && msg.sender != admin) revert NotJoinAgent(msg.sender);
        refreshRevenue();
        Member storage m = _members[member];
        if (m.status != Status.Active) revert NotActiveMember(member);
        _settle(m);
        totalWeight -= m.weight;
        m.weight = 0;
        m.status = Status.Parted;
        activeMemberCount--;
        emit MemberParted(member, msg.sender);
    }

    function setMemberWeight(address member, uint96 weight) external onlyJoinAgent {
        if (weight == 0) revert InvalidWeight(weight);
        refreshRevenue();
        Member storage m = _members[member];
        if (m.status != Status.Active) revert NotActiveMember(member);
        _settle(m);
        uint96 old = m.weight;
        totalWeight = totalWeight - old + weight;
        m.weight = weight;
        emit MemberWeightChanged(member, old, weight);
    }

    // ---- withdrawals ----

    /// @notice Sends `amount` of the caller's earnings to `to`.
    function withdraw(address to, uint256 amount) external returns (uint256) {
        return _withdraw(msg.sender, to, amount, false);
    }

    /// @notice Sends all the caller's withdrawable earnings to `to`; returns the amount.
    function withdrawAll(address to) external returns (uint256) {
        refreshRevenue();
        return _withdraw(msg.sender, to, _info(_members[msg.sender]).withdrawable, false);
    }

    /// @notice Withdraws for `member`, who signed an EIP-712 `Withdraw(member, to, amount, nonce, deadline)` with its
    ///         current nonce (see `nonces`). Anyone may send it, so a member holding no gas can withdraw. Each
    ///         signature works once: the nonce is used up. Contract members sign through ERC-1271.
    function withdrawSigned(address member, address to, uint256 amount, uint256 deadline, bytes calldata signature)
        external
        returns (uint256)
    {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(WITHDRAW_TYPEHASH, member, to, amount, _useNonce(member), deadline)));
        if (!SignatureChecker.isValidSignatureNow(member, digest, signature)) revert InvalidSignature(member);
        return _withdraw(member, to, amount, true);
    }

    function withdrawAdminFees(address to) external onlyAdmin returns (uint256 amount) {
        if (to == address(0)) revert InvalidAddress();
        refreshRevenue();
        amount = adminEarned - adminWithdrawn;
        if (amount == 0) revert InvalidAmount(0);
        adminWithdrawn += amount;
        _accounted -= amount;
        emit AdminWithdrawal(to, amount);
        _token.safeTransfer(to, amount);
    }

    // ---- admin ----

    /// @notice A lower fee applies at once (and cancels a pending raise); a higher one is scheduled and applies
    ///         FEE_RAISE_DELAY later. Either way, revenue that arrived before is accounted at the old fee first.
    function setAdminFee(uint16 adminFeeBps_) external onlyAdmin {
        if (adminFeeBps_ > MAX_FEE_BPS) revert InvalidFee(adminFeeBps_, MAX_FEE_BPS);
        refreshRevenue();
        if (adminFeeBps_ <= adminFeeBps) {
            adminFeeBps = adminFeeBps_;
            pendingAdminFeeAt = 0;
            emit AdminFeeChanged(adminFeeBps_);
        } else {
            uint64 effectiveAt = uint64(block.timestamp) + FEE_RAISE_DELAY;
            pendingAdminFeeBps = adminFeeBps_;
            pendingAdminFeeAt = effectiveAt;
            emit AdminFeeRaiseScheduled(adminFeeBps_, effectiveAt);
        }
    }

    /// @notice Hands the union to a new admin, with the admin fees not yet withdrawn.
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert InvalidAddress();
        emit AdminChanged(admin, newAdmin);
        admin = newAdmin;
    }

    function addJoinAgent(address agent) external onlyAdmin {
        _addJoinAgent(agent);
    }

    function removeJoinAgent(address agent) external onlyAdmin {
        if (!isJoinAgent[agent]) revert NotJoinAgent(agent);
        isJoinAgent[agent] = false;
        emit JoinAgentRemoved(agent);
    }

    // ---- views ----

    /// @notice A member's status, weight and earnings (revenue not yet accounted by refreshRevenue isn't counted).
    function memberInfo(address member) external view returns (MemberInfo memory) {
        return _info(_members[member]);
    }

    function stats() external view returns (Stats memory) {
        return Stats(
            totalRevenue,
            totalWithdrawn,
            totalWeight,
            activeMemberCount,
            memberCount,
            revenuePerWeight,
            adminEarned,
            adminWithdrawn,
            adminFeeBps
        );
    }

    /// @notice The EIP-712 digest `member` signs to let anyone send `amount` to `to` (with its current nonce).
    function withdrawDigest(address member, address to, uint256 amount, uint256 deadline)
        external
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(WITHDRAW_TYPEHASH, member, to, amount, nonces(member), deadline)));
    }

    // ---- internals ----

    function _add(address member, uint96 weight) private {
        if (member == address(0)) revert InvalidAddress();
        if (weight == 0) revert InvalidWeight(weight);
        Member storage m = _members[member];
        if (m.status == Status.Active) revert AlreadyMember(member);
        if (m.status == Status.None) memberCount++;
        _settle(m);
        m.status = Status.Active;
        m.weight = weight;
        totalWeight += weight;
        activeMemberCount++;
        emit MemberJoined(member, weight);
    }

    function _settle(Member storage m) private {
        m.settledScaled += uint256(m.weight) * (revenuePerWeight - m.lastIndex);
        m.lastIndex = revenuePerWeight;
    }

    function _info(Member storage m) private view returns (MemberInfo memory info) {
        uint256 earned = (m.settledScaled + uint256(m.weight) * (revenuePerWeight - m.lastIndex)) / PRECISION;
        return MemberInfo(m.status, m.weight, earned, m.withdrawn, earned - m.withdrawn);
    }

    function _withdraw(address member, address to, uint256 amount, bool signed) private returns (uint256) {
        if (to == address(0)) revert InvalidAddress();
        Member storage m = _members[member];
        if (m.status == Status.None) revert NotMember(member);
        uint256 available = _info(m).withdrawable;
        if (amount == 0) revert InvalidAmount(0);
        if (amount > available) revert InsufficientEarnings(member, amount, available);
        m.withdrawn += amount;
        totalWithdrawn += amount;
        _accounted -= amount;
        emit Withdrawal(member, to, amount, signed);
        _token.safeTransfer(to, amount);
        return amount;
    }

    function _addJoinAgent(address agent) private {
        if (agent == address(0)) revert InvalidAddress();
        isJoinAgent[agent] = true;
        emit JoinAgentAdded(agent);
    }
}
