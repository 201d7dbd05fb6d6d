// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {StreamRegistry} from "../StreamRegistry.sol";
import {IDataUnionFactory, IRevenueSink} from "../dataunions/IDataUnion.sol";

/// @title Runnel marketplace
/// @notice Sells time-limited subscribe permission on bundles of streams ("products"). A buyer pays the product's price
///         per second in one of its accepted ERC-20 tokens; the payment goes straight to the product's beneficiary (an
///         address or a Data Union) and the buyer's subscribe expiration on every stream of the product is raised.
/// @dev The marketplace sets permissions through StreamRegistry.extendSubscription, so each stream's owner must grant it
///      the grant permission; only a holder of grant on a stream may put that stream in a product, or anyone could sell
///      a stream that granted the marketplace. The contract holds no funds: payments go buyer → beneficiary.
contract Marketplace is ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice One accepted token and the price in its smallest unit per second of subscription.
    struct TokenPrice {
        address token;
        uint256 pricePerSecond;
    }

    /// @notice What a seller sets when creating or updating a product.
    struct ProductInput {
        string name;
        string[] streams;
        address beneficiary;
        TokenPrice[] prices;
        uint64 minimumSeconds;
        string termsUri;
    }

    struct Product {
        address owner;
        address beneficiary;
        uint64 minimumSeconds;
        bool listed;
        string name;
        string termsUri;
        string[] streams;
        address[] tokens;
    }

    uint256 public constant MAX_STREAMS = 20;
    uint256 public constant MAX_TOKENS = 8;
    uint256 public constant MAX_NAME_BYTES = 200;
    /// @notice Longest one purchase may add (about 100 years): keeps expirations far inside uint64.
    uint64 public constant MAX_SECONDS = 100 * 365 days;

    StreamRegistry public immutable registry;
    IDataUnionFactory public immutable dataUnionFactory;

    uint256 public productCount;
    mapping(uint256 productId => Product) private _products;
    mapping(uint256 productId => mapping(address token => uint256)) private _price;
    mapping(uint256 productId => mapping(address buyer => uint64)) private _subscriptionEnd;

    event ProductCreated(uint256 indexed productId, address indexed owner, string name);
    /// @notice Emitted on create and on every update with the product's whole new state.
    event ProductUpdated(
        uint256 indexed productId,
        address indexed beneficiary,
        string name,
        string[] streams,
        TokenPrice[] prices,
        uint64 minimumSeconds,
        string termsUri
    );
    event ProductDelisted(uint256 indexed productId);
    event ProductListed(uint256 indexed productId);
    event ProductOwnershipTransferred(uint256 indexed productId, address indexed previousOwner, address indexed newOwner);
    event Subscribed(
        uint256 indexed productId,
        address indexed subscriber,
        address indexed token,
        uint256 secondsBought,
        uint256 paid,
        uint64 endsAt
    );

    error ProductNotFound(uint256 productId);
    error ProductNotListed(uint256 productId);
    error NotProductOwner(uint256 productId, address caller);
    error InvalidProduct(string reason);
    error NotStreamGranter(string streamId, address caller);
    error MarketplaceNotGranted(string streamId);
    /// @dev The product's owner lost grant on one of its streams (revoked, or the product went to a new owner):
    ///      selling access is the stream's grant holders' call, not a stale product's.
    error OwnerNotGranter(uint256 productId, string streamId, address owner);
    error TokenNotAccepted(uint256 productId, address token);
    error TokenNotAcceptedByDataUnion(address dataUnion, address token);
    error PeriodTooShort(uint256 secondsRequested, uint256 minimumSeconds);
    error PeriodTooLong(uint256 secondsRequested, uint256 maximumSeconds);
    error PriceAboveLimit(uint256 pricePerSecond, uint256 maxPricePerSecond);
    error CostOverflow(uint256 pricePerSecond, uint256 secondsRequested);

    constructor(StreamRegistry registry_, IDataUnionFactory dataUnionFactory_) {
        registry = registry_;
        dataUnionFactory = dataUnionFactory_;
    }

    /// @notice Creates a listed product owned by the caller, who must hold grant on every stream named.
    function createProduct(ProductInput calldata input) external returns (uint256 productId) {
        productId = ++productCount;
        Product storage p = _products[productId];
        p.owner = msg.sender;
        p.listed = true;
        emit ProductCreated(productId, msg.sender, input.name);
        _write(productId, p, input);
    }

    /// @notice Replaces the product's streams, beneficiary, prices, minimum period and terms. Buyers protect
    ///         themselves from a price raised in front of their purchase with `buy`'s `maxPricePerSecond`.
    function updateProduct(uint256 productId, ProductInput calldata input) external {
        Product storage p = _owned(productId);
        for (uint256 i = 0; i < p.tokens.length; i++) delete _price[productId][p.tokens[i]];
        delete p.tokens;
        _write(productId, p, input);
    }

    /// @notice Stops sales; subscriptions bought stay valid until they end.
    function delistProduct(uint256 productId) external {
        _owned(productId).listed = false;
        emit ProductDelisted(productId);
    }

    function relistProduct(uint256 productId) external {
        _owned(productId).listed = true;
        emit ProductListed(productId);
    }

    function transferProductOwnership(uint256 productId, address newOwner) external {
        Product storage p = _owned(productId);
        if (newOwner == address(0)) revert InvalidProduct("owner can't be the zero address");
        for (uint256 i = 0; i < p.streams.length; i++) {
            if (!registry.hasPermission(p.streams[i], newOwner, StreamRegistry.PermissionType.Grant)) {
                revert NotStreamGranter(p.streams[i], newOwner);
            }
        }
        emit ProductOwnershipTransferred(productId, p.owner, newOwner);
        p.owner = newOwner;
    }

    /// @notice Buys `secondsToBuy` of the product for the caller, paying in `token`: extends the caller's subscription
    ///         (from its end if it hasn't ended, else from now) and its subscribe permission on every stream.
    /// @param maxPricePerSecond The most the caller agrees to pay per second; a higher price reverts (front-running).
    /// @return endsAt When the caller's subscription now ends (Unix seconds).
    function buy(uint256 productId, uint256 secondsToBuy, address token, uint256 maxPricePerSecond)
        external
        nonReentrant
        returns (uint64 endsAt)
    {
        Product storage p = _products[productId];
        if (p.owner == address(0)) revert ProductNotFound(productId);
        if (!p.listed) revert ProductNotListed(productId);
        if (!_accepts(p, token)) revert TokenNotAccepted(productId, token);
        uint256 price = _price[productId][token];
        if (secondsToBuy < p.minimumSeconds || secondsToBuy == 0) {
            revert PeriodTooShort(secondsToBuy, p.minimumSeconds == 0 ? 1 : p.minimumSeconds);
        }
        if (secondsToBuy > MAX_SECONDS) revert PeriodTooLong(secondsToBuy, MAX_SECONDS);
        if (price > maxPricePerSecond) revert PriceAboveLimit(price, maxPricePerSecond);
        if (price > type(uint256).max / secondsToBuy) revert CostOverflow(price, secondsToBuy);
        uint256 cost = price * secondsToBuy;

        uint64 current = _subscriptionEnd[productId][msg.sender];
        uint64 start = current > block.timestamp ? current : uint64(block.timestamp);
        endsAt = start + uint64(secondsToBuy);
        _subscriptionEnd[productId][msg.sender] = endsAt;
        for (uint256 i = 0; i < p.streams.length; i++) {
            string storage streamId = p.streams[i];
            if (!registry.hasPermission(streamId, p.owner, StreamRegistry.PermissionType.Grant)) {
                revert OwnerNotGranter(productId, streamId, p.owner);
            }
            if (!registry.hasPermission(streamId, address(this), StreamRegistry.PermissionType.Grant)) {
                revert MarketplaceNotGranted(streamId);
            }
            registry.extendSubscription(streamId, msg.sender, endsAt);
        }
        emit Subscribed(productId, msg.sender, token, secondsToBuy, cost, endsAt);

        if (cost > 0) {
            IERC20(token).safeTransferFrom(msg.sender, p.beneficiary, cost);
            // A Data Union accounts revenue when told; any other beneficiary just receives the tokens.
            if (dataUnionFactory.isDataUnion(p.beneficiary)) IRevenueSink(p.beneficiary).refreshRevenue();
        }
    }

    /// @notice When `subscriber`'s subscription to the product ends (Unix seconds; 0 if never bought).
    function subscriptionEnd(uint256 productId, address subscriber) external view returns (uint64) {
        return _subscriptionEnd[productId][subscriber];
    }

    function getProduct(uint256 productId) external view returns (Product memory product, TokenPrice[] memory prices) {
        product = _products[productId];
        if (product.owner == address(0)) revert ProductNotFound(productId);
        prices = new TokenPrice[](product.tokens.length);
        for (uint256 i = 0; i < prices.length; i++) {
            prices[i] = TokenPrice(product.tokens[i], _price[productId][product.tokens[i]]);
        }
    }

    /// @notice The price per second in `token`, and whether the product accepts it.
    function priceOf(uint256 productId, address token) external view returns (uint256 pricePerSecond, bool accepted) {
        Product storage p = _products[productId];
        if (p.owner == address(0)) revert ProductNotFound(productId);
        return (_price[productId][token], _accepts(p, token));
    }

    function _write(uint256 productId, Product storage p, ProductInput calldata input) private {
        if (bytes(input.name).length == 0 || bytes(input.name).length > MAX_NAME_BYTES) {
            revert InvalidProduct("name must be 1..200 bytes");
        }
        if (input.streams.length == 0 || input.streams.length > MAX_STREAMS) {
            revert InvalidProduct("a product has 1..20 streams");
        }
        if (input.prices.length == 0 || input.prices.length > MAX_TOKENS) {
            revert InvalidProduct("a product accepts 1..8 tokens");
        }
        if (input.beneficiary == address(0)) revert InvalidProduct("beneficiary can't be the zero address");
        if (input.minimumSeconds > MAX_SECONDS) revert PeriodTooLong(input.minimumSeconds, MAX_SECONDS);
        for (uint256 i = 0; i < input.streams.length; i++) {
            if (!registry.hasPermission(input.streams[i], msg.sender, StreamRegistry.PermissionType.Grant)) {
                revert NotStreamGranter(input.streams[i], msg.sender);
            }
        }
        bool toDataUnion = dataUnionFactory.isDataUnion(input.beneficiary);
        address unionToken = toDataUnion ? IRevenueSink(input.beneficiary).token() : address(0);
        for (uint256 i = 0; i < input.prices.length; i++) {
            address token = input.prices[i].token;
            if (token == address(0) || token.code.length == 0) revert InvalidProduct("a price's token must be a contract");
            if (_accepts(p, token)) revert InvalidProduct("a token is priced twice");
            if (toDataUnion && token != unionToken) revert TokenNotAcceptedByDataUnion(input.beneficiary, token);
            p.tokens.push(token);
            _price[productId][token] = input.prices[i].pricePerSecond;
        }
        p.name = input.name;
        delete p.streams;
        for (uint256 i = 0; i < input.streams.length; i++) p.streams.push(input.streams[i]);
        p.beneficiary = input.beneficiary;
        p.minimumSeconds = input.minimumSeconds;
        p.termsUri = input.termsUri;
        emit ProductUpdated(
            productId, input.beneficiary, input.name, input.streams, input.prices, input.minimumSeconds, input.termsUri
        );
    }

    function _owned(uint256 productId) private view returns (Product storage p) {
        p = _products[productId];
        if (p.owner == address(0)) revert ProductNotFound(productId);
        if (p.owner != msg.sender) revert NotProductOwner(productId, msg.sender);
    }

    function _accepts(Product storage p, address token) private view returns (bool) {
        for (uint256 i = 0; i < p.tokens.length; i++) if (p.tokens[i] == token) return true;
        return false;
    }
}
