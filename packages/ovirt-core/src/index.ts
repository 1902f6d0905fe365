export * from "./engine";
export * from "./flows";
export * from "./imageio";
export * from "./ovf";
