/**
 * errorText is what people read of an API error: its message only, never
 * its code (the code is for programs), and without the API's field prefix
 * ("settings.host: must be a host name" reads "must be a host name" next
 * to the Host field).
 */
export function errorText(error) {
  let m = (error && error.message) || 'Something went wrong.';
  const field = error && error.field;
  if (field && m.startsWith(field + ': ')) m = m.slice(field.length + 2);
  return m;
}
