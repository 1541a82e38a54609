/** Bad input to a balancer or metric: the message names the problem (shape, NaN, k, option, state). */
export class InputError extends Error {
  override name = 'InputError';
}
