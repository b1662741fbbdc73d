/**
 * Clock and Random: the only way time and chance reach a host. Cores never call them; a
 * host reads them and passes the values in as inputs.
 */
export interface Clock {
  /** Unix milliseconds. May step backwards or jump (the simulator makes it). */
  now(): number;
}

export interface Random {
  /** A uniformly distributed integer in [0, 2^32). */
  uint32(): number;
}
