// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {StreamRegistry} from "./StreamRegistry.sol";

/// @title Runnel storage-node registry
/// @notice Storage nodes register themselves (metadata: JSON with the URL of their history API); a stream's editors
///         assign storage nodes to it.
/// @dev No loops over nodes or streams: "which streams does this node store" and "which nodes store this stream" are
///      answered off-chain from events, and checked on-chain with isStorageNodeOf.
contract StorageNodeRegistry {
    uint256 public constant MAX_METADATA_LENGTH = 2_000;

    StreamRegistry public immutable streamRegistry;
    mapping(address node => string) private _nodeMetadata;
    mapping(bytes32 key => bool) private _assigned;

    event NodeUpdated(address indexed node, string metadata);
    event NodeRemoved(address indexed node);
    event StorageNodeAdded(string streamId, address indexed node);
    event StorageNodeRemoved(string streamId, address indexed node);

    error NodeNotRegistered(address node);
    error InvalidNodeMetadata(string reason);
    error NotStreamEditor(string streamId, address user);
    error AlreadyAssigned(string streamId, address node);
    error NotAssigned(string streamId, address node);

    constructor(StreamRegistry registry) {
        streamRegistry = registry;
    }

    /// @notice Registers the caller as a storage node, or updates its metadata.
    function registerNode(string calldata metadata) external {
        if (bytes(metadata).length == 0 || bytes(metadata).length > MAX_METADATA_LENGTH) {
            revert InvalidNodeMetadata("length must be 1..2000 bytes");
        }
        _nodeMetadata[msg.sender] = metadata;
        emit NodeUpdated(msg.sender, metadata);
    }

    function unregisterNode() external {
        if (!isRegistered(msg.sender)) revert NodeNotRegistered(msg.sender);
        delete _nodeMetadata[msg.sender];
        emit NodeRemoved(msg.sender);
    }

    function isRegistered(address node) public view returns (bool) {
        return bytes(_nodeMetadata[node]).length != 0;
    }

    function getNodeMetadata(address node) external view returns (string memory) {
        if (!isRegistered(node)) revert NodeNotRegistered(node);
        return _nodeMetadata[node];
    }

    function addStorageNode(string calldata streamId, address node) external {
        _requireEditor(streamId);
        if (!isRegistered(node)) revert NodeNotRegistered(node);
        bytes32 key = _key(streamId, node);
        if (_assigned[key]) revert AlreadyAssigned(streamId, node);
        _assigned[key] = true;
        emit StorageNodeAdded(streamId, node);
    }

    function removeStorageNode(string calldata streamId, address node) external {
        _requireEditor(streamId);
        bytes32 key = _key(streamId, node);
        if (!_assigned[key]) revert NotAssigned(streamId, node);
        delete _assigned[key];
        emit StorageNodeRemoved(streamId, node);
    }

    /// @notice True while `node` is assigned to an existing stream and registered.
    function isStorageNodeOf(string calldata streamId, address node) external view returns (bool) {
        return _assigned[_key(streamId, node)] && streamRegistry.exists(streamId) && isRegistered(node);
    }

    /// @dev Includes the stream's generation, so a deleted and re-created stream starts with no storage nodes.
    function _key(string calldata streamId, address node) private view returns (bytes32) {
        return keccak256(abi.encode(streamId, streamRegistry.generation(streamId), node));
    }

    function _requireEditor(string calldata streamId) private view {
        if (!streamRegistry.hasPermission(streamId, msg.sender, StreamRegistry.PermissionType.Edit)) {
            revert NotStreamEditor(streamId, msg.sender);
        }
    }
}
