// A fixed generic text for calibration-free priors: plain everyday English written for
// this project, disjoint from every evaluation text (TinyStories, State of the Union).
export const GENERIC_TEXT = `The morning was cool and the street was quiet. A man opened the door of the bakery and set out two chairs. People walked past with bags and coffee cups. Some of them stopped to read the board that said what bread was fresh today.

Water boils at one hundred degrees at sea level. When you heat it in a pot, small bubbles form at the bottom and rise to the top. If you add salt, the water takes a little longer to boil. Cooks often add salt to pasta water for taste.

My sister likes to build things. Last week she made a small shelf from old boards. She measured each board twice, cut them with a saw, and joined them with screws. Then she painted the shelf green and hung it above her desk.

A train leaves the station every hour. The first one goes at six in the morning and the last one at ten at night. Tickets cost less if you buy them a day early. Children under five ride for free.

The garden needs water when the soil is dry. Tomatoes like sun and warm days. Beans grow fast and climb up strings. In the fall, the leaves turn yellow and the plants stop growing.

We met at the library after school. The room was bright and full of tables. I found a book about the sea and read about whales, which can sing to each other across long distances. My friend read about planets and told me that Jupiter has many moons.

To make a cup of tea, first heat the water. Put the tea bag in a cup and pour the hot water over it. Wait three minutes, then take out the bag. Add milk or honey if you like.

The city council met on Tuesday to talk about the new park. Many people came to speak. Some wanted more trees and a pond. Others asked for a place where dogs can run. The council said it would decide next month.

It rained all afternoon, so we stayed inside and played cards. Grandpa won most of the games. He laughed and said he had been playing for sixty years. Later the sun came out and we went for a walk by the river.

A good map shows roads, rivers, and towns. It also has a scale, so you know how far one place is from another. Before phones, people folded big paper maps and kept them in their cars.`;
