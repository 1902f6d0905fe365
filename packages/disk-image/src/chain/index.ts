export { backingKey, backingNameMatches, ChainError, type ChainLink, composeChain } from "./compose";
export { composeChainFromFolder, type LayerFile, readLayerFile, readLayerFiles } from "./folder";
export { type ChainFile, GuestChain, zeroRaw } from "./guest-chain";
export { openImageChainFromFile, resolveBackingChain } from "./resolve";
