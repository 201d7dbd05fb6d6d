// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MetadataValidator} from "./MetadataValidator.sol";

/// @title Runnel stream registry
/// @notice Streams (`<creator address>/<path>`), their JSON metadata, and who may do what with them.
/// @dev No function loops over stored users or streams (only over a caller's bounded batch); listing and search are
///      done off-chain from events.
contract StreamRegistry {
    enum PermissionType {
        Edit,
        Delete,
        Publish,
        Subscribe,
        Grant
    }

    /// @dev Expirations are Unix seconds; 0 means none, type(uint64).max means forever.
    struct Permission {
        bool canEdit;
        bool canDelete;
        uint64 publishExpiration;
        uint64 subscribeExpiration;
        bool canGrant;
    }

    /// @notice One entry of setPermissionsBatch: replace `user`'s permissions on `streamId`.
    struct PermissionAssignment {
        string streamId;
        address user;
        Permission permission;
    }

    uint256 public constant MAX_PATH_LENGTH = 255;
    /// @notice Most entries of one setPermissionsBatch: bounds its gas well under a block's.
    uint256 public constant MAX_BATCH = 100;
    uint64 public constant FOREVER = type(uint64).max;

    mapping(string streamId => string) private _metadata;
    /// @dev Bumped when a stream is deleted, so a re-created stream starts without the old permissions
    ///      (forgetting them one by one would need a loop over users).
    mapping(string streamId => uint256) private _generation;
    mapping(bytes32 key => Permission) private _permissions;

    event StreamCreated(string streamId, string metadata);
    event StreamUpdated(string streamId, string metadata);
    event StreamDeleted(string streamId);
    event PermissionUpdated(
        string streamId,
        address indexed user,
        bool canEdit,
        bool canDelete,
        uint64 publishExpiration,
        uint64 subscribeExpiration,
        bool canGrant
    );

    error StreamAlreadyExists(string streamId);
    error StreamNotFound(string streamId);
    error PermissionDenied(string streamId, address user, PermissionType permission);
    error InvalidPath(string path, string reason);
    /// @dev Only publish and subscribe can be public.
    error InvalidPublicPermission(PermissionType permission);
    error InvalidBatchSize(uint256 size, uint256 max);

    /// @notice Creates `<msg.sender>/<path>` and gives the creator every permission.
    function createStream(string calldata path, string calldata metadata) external returns (string memory streamId) {
        _validatePath(bytes(path));
        MetadataValidator.validate(bytes(metadata));
        streamId = string.concat(_toLowerHex(msg.sender), path);
        if (bytes(_metadata[streamId]).length != 0) revert StreamAlreadyExists(streamId);
        _metadata[streamId] = metadata;
        emit StreamCreated(streamId, metadata);
        _store(streamId, msg.sender, Permission(true, true, FOREVER, FOREVER, true));
    }

    function updateStreamMetadata(string calldata streamId, string calldata metadata) external {
        _require(streamId, msg.sender, PermissionType.Edit);
        MetadataValidator.validate(bytes(metadata));
        _metadata[streamId] = metadata;
        emit StreamUpdated(streamId, metadata);
    }

    function deleteStream(string calldata streamId) external {
        _require(streamId, msg.sender, PermissionType.Delete);
        delete _metadata[streamId];
        _generation[streamId]++;
        emit StreamDeleted(streamId);
    }

    /// @notice Bumped each time a stream of this id is deleted; other registries key their per-stream state by it.
    function generation(string calldata streamId) external view returns (uint256) {
        return _generation[streamId];
    }

    function exists(string calldata streamId) public view returns (bool) {
        return bytes(_metadata[streamId]).length != 0;
    }

    function getStreamMetadata(string calldata streamId) external view returns (string memory) {
        _requireExists(streamId);
        return _metadata[streamId];
    }

    /// @notice The permissions granted to `user` itself (public grants are held by address(0)).
    function getPermissionsForUser(string calldata streamId, address user) external view returns (Permission memory) {
        _requireExists(streamId);
        return _permissions[_key(streamId, user)];
    }

    /// @notice Whether `user` holds `permission` now: directly, or for publish and subscribe also publicly.
    function hasPermission(string calldata streamId, address user, PermissionType permission)
        public
        view
        returns (bool)
    {
        if (!exists(streamId)) return false;
        if (_holds(_permissions[_key(streamId, user)], permission)) return true;
        return (permission == PermissionType.Publish || permission == PermissionType.Subscribe)
            && _holds(_permissions[_key(streamId, address(0))], permission);
    }

    /// @notice Gives `user` a permission (publish and subscribe forever). Needs grant.
    function grantPermission(string calldata streamId, address user, PermissionType permission) external {
        _requireGrant(streamId, user, permission);
        Permission memory p = _permissions[_key(streamId, user)];
        _set(p, permission, true);
        _store(streamId, user, p);
    }

    /// @notice Takes a permission from `user`. Needs grant, except that anyone may give up their own.
    function revokePermission(string calldata streamId, address user, PermissionType permission) external {
        if (user != msg.sender) _requireGrant(streamId, user, permission);
        else _requireExists(streamId);
        Permission memory p = _permissions[_key(streamId, user)];
        _set(p, permission, false);
        _store(streamId, user, p);
    }

    /// @notice Raises `user`'s subscribe expiration to `until` (Unix seconds), leaving a later one and every other
    ///         permission as they are. Needs grant. A marketplace holding grant sells time this way without being able
    ///         to shorten what the stream's owner gave.
    function extendSubscription(string calldata streamId, address user, uint64 until) external {
        _requireGrant(streamId, user, PermissionType.Subscribe);
        Permission memory p = _permissions[_key(streamId, user)];
        if (until <= p.subscribeExpiration) return;
        p.subscribeExpiration = until;
        _store(streamId, user, p);
    }

    /// @notice Replaces all of `user`'s permissions, with expirations. Needs grant.
    function setPermissions(string calldata streamId, address user, Permission calldata permission) external {
        _setPermissions(streamId, user, permission);
    }

    /// @notice setPermissions for many (stream, user) pairs in one transaction: all apply, or none. Needs grant on each
    ///         stream named.
    function setPermissionsBatch(PermissionAssignment[] calldata assignments) external {
        if (assignments.length == 0 || assignments.length > MAX_BATCH) {
            revert InvalidBatchSize(assignments.length, MAX_BATCH);
        }
        for (uint256 i = 0; i < assignments.length; i++) {
            _setPermissions(assignments[i].streamId, assignments[i].user, assignments[i].permission);
        }
    }

    function _setPermissions(string calldata streamId, address user, Permission calldata permission) private {
        _require(streamId, msg.sender, PermissionType.Grant);
        if (user == address(0) && (permission.canEdit || permission.canDelete || permission.canGrant)) {
            revert InvalidPublicPermission(permission.canEdit ? PermissionType.Edit : permission.canDelete ? PermissionType.Delete : PermissionType.Grant);
        }
        _store(streamId, user, permission);
    }

    function _requireGrant(string calldata streamId, address user, PermissionType permission) private view {
        _require(streamId, msg.sender, PermissionType.Grant);
        if (user == address(0) && permission != PermissionType.Publish && permission != PermissionType.Subscribe) {
            revert InvalidPublicPermission(permission);
        }
    }

    function _require(string calldata streamId, address user, PermissionType permission) private view {
        _requireExists(streamId);
        if (!_holds(_permissions[_key(streamId, user)], permission)) revert PermissionDenied(streamId, user, permission);
    }

    function _requireExists(string calldata streamId) private view {
        if (!exists(streamId)) revert StreamNotFound(streamId);
    }

    function _store(string memory streamId, address user, Permission memory p) private {
        _permissions[_key(streamId, user)] = p;
        emit PermissionUpdated(
            streamId, user, p.canEdit, p.canDelete, p.publishExpiration, p.subscribeExpiration, p.canGrant
        );
    }

    function _key(string memory streamId, address user) private view returns (bytes32) {
        return keccak256(abi.encode(streamId, _generation[streamId], user));
    }

    function _holds(Permission memory p, PermissionType permission) private view returns (bool) {
        if (permission == PermissionType.Edit) return p.canEdit;
        if (permission == PermissionType.Delete) return p.canDelete;
        if (permission == PermissionType.Grant) return p.canGrant;
        if (permission == PermissionType.Publish) return p.publishExpiration > block.timestamp;
        return p.subscribeExpiration > block.timestamp;
    }

    function _set(Permission memory p, PermissionType permission, bool value) private pure {
        if (permission == PermissionType.Edit) p.canEdit = value;
        else if (permission == PermissionType.Delete) p.canDelete = value;
        else if (permission == PermissionType.Grant) p.canGrant = value;
        else if (permission == PermissionType.Publish) p.publishExpiration = value ? FOREVER : 0;
        else p.subscribeExpiration = value ? FOREVER : 0;
    }

    /// @dev Same rules as the protocol's stream paths: "/"-separated segments of [A-Za-z0-9._-],
    ///      none empty, ".", or "..".
    function _validatePath(bytes memory path) private pure {
        if (path.length < 2 || path.length > MAX_PATH_LENGTH) revert InvalidPath(string(path), "length must be 2..255");
        if (path[0] != "/") revert InvalidPath(string(path), "must start with /");
        uint256 segmentStart = 1;
        for (uint256 i = 1; i <= path.length; i++) {
            if (i == path.length || path[i] == "/") {
                uint256 length = i - segmentStart;
                if (length == 0) revert InvalidPath(string(path), "empty segment");
                if (path[segmentStart] == "." && (length == 1 || (length == 2 && path[segmentStart + 1] == "."))) {
                    revert InvalidPath(string(path), "segment . or ..");
                }
                segmentStart = i + 1;
                continue;
            }
            bytes1 c = path[i];
            bool ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "." || c == "_"
                || c == "-";
            if (!ok) revert InvalidPath(string(path), "characters must be A-Z a-z 0-9 . _ - /");
        }
    }

    function _toLowerHex(address account) private pure returns (string memory) {
        bytes memory digits = "0123456789abcdef";
        bytes memory out = new bytes(42);
        out[0] = "0";
        out[1] = "x";
        uint160 value = uint160(account);
        for (uint256 i = 41; i > 1; i--) {
            out[i] = digits[value & 0xf];
            value >>= 4;
        }
        return string(out);
    }
}
