// The two tools the tool-calling tests offer, as JSON Schemas: a city's weather (a strict schema
// with an enum) and a timezone's time.
export const WEATHER = {
  type: 'object',
  properties: { city: { type: 'string', maxLength: 30 }, unit: { enum: ['celsius', 'fahrenheit'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
export const TIME = { type: 'object', properties: { timezone: { type: 'string', maxLength: 40 } }, required: ['timezone'], additionalProperties: false };
