//! Pages in a legacy encoding that declare none (no byte order mark, no
//! `charset` in the `Content-Type` header, no `<meta charset>`): the
//! encoding is guessed from the bytes, and the title and description come
//! out as written.
#![allow(clippy::unwrap_used)]

use encoding_rs::{Encoding, GBK, SHIFT_JIS, WINDOWS_1251, WINDOWS_1252};
use scheduler_html_metadata::{Page, extract};
use url::Url;

struct UndeclaredPage {
    url: &'static str,
    language: &'static str,
    title: &'static str,
    description: &'static str,
    paragraphs: &'static [&'static str],
}

impl UndeclaredPage {
    /// The page as `encoding` writes it, with nothing that names the
    /// encoding.
    fn bytes(&self, encoding: &'static Encoding) -> Vec<u8> {
        let paragraphs: String = self
            .paragraphs
            .iter()
            .map(|text| format!("      <p>{text}</p>\n"))
            .collect();
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{language}\">\n  <head>\n    \
             <title>{title}</title>\n    \
             <meta name=\"description\" content=\"{description}\">\n    \
             <link rel=\"stylesheet\" href=\"/css/style.css\">\n  </head>\n  <body>\n    \
             <main>\n      <h1>{title}</h1>\n{paragraphs}    </main>\n  </body>\n</html>\n",
            language = self.language,
            title = self.title,
            description = self.description,
        );
        let (bytes, used, unmappable) = encoding.encode(&html);
        assert_eq!(used, encoding, "{} encodes as itself", encoding.name());
        assert!(!unmappable, "the text is all in {}", encoding.name());
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "the bytes are not UTF-8"
        );
        bytes.into_owned()
    }

    /// Extracts the page served as plain `text/html` from `url`, and checks
    /// the title and description read as written.
    fn assert_reads_right(&self, encoding: &'static Encoding, url: &str) {
        let url = Url::parse(url).unwrap();
        let body = self.bytes(encoding);
        let headers = [("content-type".to_owned(), "text/html".to_owned())];
        let metadata = extract(&Page {
            url: &url,
            body: &body,
            headers: &headers,
        });
        assert_eq!(
            metadata.title.as_deref(),
            Some(self.title),
            "{} from {url}",
            encoding.name()
        );
        assert_eq!(
            metadata.description.as_deref(),
            Some(self.description),
            "{} from {url}",
            encoding.name()
        );
    }
}

const BAKERY_JA: UndeclaredPage = UndeclaredPage {
    url: "https://www.yamada-bakery.jp/",
    language: "ja",
    title: "山田ベーカリー｜毎朝焼きたてのパンをお届けします",
    description: "東京都世田谷区の小さなパン屋です。国産小麦と天然酵母を使い、毎朝五時から一つひとつ手作りで焼き上げています。",
    paragraphs: &[
        "当店は一九八七年の創業以来、地域の皆さまに愛されてきました。食パン、クロワッサン、季節の果物を使ったデニッシュなど、常時四十種類以上のパンをご用意しております。",
        "営業時間は午前七時から午後七時まで、毎週火曜日が定休日です。ご予約やお問い合わせは、お電話またはお問い合わせフォームからお気軽にどうぞ。",
    ],
};

const TEA_ZH: UndeclaredPage = UndeclaredPage {
    url: "https://www.longjing-chaye.cn/",
    language: "zh-CN",
    title: "西湖龙井茶叶专卖店 - 明前特级新茶上市",
    description: "杭州西湖龙井原产地直供，精选明前特级嫩芽，传统手工炒制，香气清高持久，滋味鲜醇甘爽。全国包邮，七天无理由退换。",
    paragraphs: &[
        "我们的茶园位于西湖风景区梅家坞村，三代人坚持传统种植方式，不使用化肥和农药。",
        "每年清明节前采摘的嫩芽，经过摊青、杀青、理条、辉锅等十多道工序，才能制成一斤好茶。欢迎来茶园参观品茶，节假日请提前预约。",
    ],
};

const BOOKSHOP_RU: UndeclaredPage = UndeclaredPage {
    url: "https://www.dom-knigi-spb.ru/",
    language: "ru",
    title: "Книжный магазин «Дом книги» — новинки и бестселлеры",
    description: "Интернет-магазин книг в Санкт-Петербурге: художественная литература, учебники и детские книги с доставкой по всей России.",
    paragraphs: &[
        "Мы работаем с 1995 года и предлагаем более ста тысяч наименований. Каждую неделю в нашем каталоге появляются новые поступления от ведущих издательств страны.",
        "Заказы на сумму от двух тысяч рублей доставляем бесплатно. Забрать покупку можно и в нашем магазине на Невском проспекте, ежедневно с десяти до двадцати двух часов.",
    ],
};

const BAKERY_FR: UndeclaredPage = UndeclaredPage {
    url: "https://www.boulangerie-lefevre.fr/",
    language: "fr",
    title: "Boulangerie Pâtisserie Lefèvre – Artisan à Lyon depuis 1962",
    description: "Pains au levain, viennoiseries pur beurre et pâtisseries de saison, préparés chaque matin dans notre fournil du quartier de la Croix-Rousse.",
    paragraphs: &[
        "Notre équipe vous accueille du mardi au dimanche, de 7 h à 19 h 30. Commandez vos gâteaux d’anniversaire et pièces montées au moins quarante-huit heures à l’avance.",
    ],
};

const BAKERY_DE: UndeclaredPage = UndeclaredPage {
    url: "https://www.baeckerei-mueller-wuerzburg.de/",
    language: "de",
    title: "Bäckerei Müller – Frische Brötchen aus Würzburg",
    description: "Seit über fünfzig Jahren backen wir täglich frisches Brot nach überlieferten Rezepten. Unsere Brötchen, Brezeln und Kuchen gibt es auch sonntags.",
    paragraphs: &[
        "Für Ihre Feier liefern wir belegte Brötchen, Torten und süße Teilchen. Rufen Sie uns an oder schreiben Sie uns – wir beraten Sie gern.",
    ],
};

#[test]
fn undeclared_shift_jis_page_reads_as_japanese() {
    BAKERY_JA.assert_reads_right(SHIFT_JIS, BAKERY_JA.url);
}

#[test]
fn undeclared_gbk_page_reads_as_chinese() {
    TEA_ZH.assert_reads_right(GBK, TEA_ZH.url);
}

#[test]
fn undeclared_windows_1251_page_reads_as_russian() {
    BOOKSHOP_RU.assert_reads_right(WINDOWS_1251, BOOKSHOP_RU.url);
}

#[test]
fn undeclared_pages_are_detected_from_their_bytes_without_a_national_domain() {
    BAKERY_JA.assert_reads_right(SHIFT_JIS, "https://www.yamada-bakery.com/");
    TEA_ZH.assert_reads_right(GBK, "https://www.longjing-chaye.com/");
    BOOKSHOP_RU.assert_reads_right(WINDOWS_1251, "https://www.dom-knigi-spb.com/");
}

#[test]
fn undeclared_windows_1252_pages_still_read_as_french_and_german() {
    BAKERY_FR.assert_reads_right(WINDOWS_1252, BAKERY_FR.url);
    BAKERY_DE.assert_reads_right(WINDOWS_1252, BAKERY_DE.url);
    BAKERY_DE.assert_reads_right(WINDOWS_1252, "https://www.baeckerei-mueller.com/");
}
