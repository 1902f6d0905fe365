export { backingKey, backingNameMatches, ChainError, type ChainLink, composeChain } from "./compose";
export { composeChainFromFolder, type LayerFile, readLayerFile, readLayerFiles } from "./folder";
export { openImageChainFromFile, resolveBackingChain } from "./resolve";
