/** The daemon's version, reported by `/info` and `runnel --version`. */
export const NODE_VERSION = '0.1.0'
